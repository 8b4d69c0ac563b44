import io

import pytest
from django.core.management import call_command

from campaigns.models import Outcome
from skillbases.outcomes import FLOW_OUTCOMES


@pytest.mark.django_db
def test_models_and_migrations_agree():
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_every_flow_outcome_is_a_call_outcome():
    assert set(FLOW_OUTCOMES) <= set(Outcome.values)


@pytest.mark.django_db
def test_health_reports_database_and_channel_layer(client):
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["database"]["ok"] is True
    assert body["channel_layer"]["ok"] is True


@pytest.mark.django_db
def test_home_leads_to_the_admin(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/")


@pytest.mark.django_db
def test_api_docs_are_served_without_a_cdn(admin_client):
    page = admin_client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "cdn" not in html.lower()
    assert admin_client.get("/api/schema/").status_code == 200
