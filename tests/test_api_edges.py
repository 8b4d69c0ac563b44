"""What an API request can get wrong before any view decides: each is a JSON 4xx naming it."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize("path", ["/api/campaigns", "/api/skillbases", "/api/dnc"])
def test_json_nested_too_deep_is_a_400(operator, path):
    body = "[" * 100_000 + "]" * 100_000
    response = api(operator).post(path, body, content_type="application/json")
    assert response.status_code == 400 and "nested too deeply" in response.json()["detail"]


def test_a_body_over_the_limit_is_a_json_413(operator, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = Client()
    client.force_login(operator)
    response = client.post("/api/dnc", '{"phone": "' + "1" * 5000 + '"}', content_type="application/json")
    assert response.status_code == 413 and response["Content-Type"] == "application/json"
    assert "over the limit" in response.json()["detail"]


@pytest.mark.parametrize(("param", "value"), [("date_to", "9999-12-31"), ("date_from", "0001-01-01")])
def test_dates_out_of_range_in_metrics_are_a_400(operator, param, value):
    response = api(operator).get("/api/analytics/metrics", {param: value})
    assert response.status_code == 400 and param in response.json()


def test_an_unknown_region_on_an_upload_is_a_400(operator, org, skillbase):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from campaigns.models import Campaign

    campaign = Campaign.objects.create(organization=org, name="Spring", skillbase=skillbase)
    upload = SimpleUploadedFile("contacts.csv", b"phone\n+79161234567\n", content_type="text/csv")
    response = api(operator).post(f"/api/campaigns/{campaign.pk}/call-list", {"file": upload, "region": "XX"}, format="multipart")
    assert response.status_code == 400 and "region" in response.json()
    assert not campaign.tasks.exists()
