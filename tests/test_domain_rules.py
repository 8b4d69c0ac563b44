"""Rules about a campaign or a skillbase live on the model, and every door (admin, API, command)
applies them with the model's own words: a running campaign is not deleted, a skillbase in use is
not deleted, and a campaign control that cannot happen says why the same way everywhere."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from campaigns.models import CallTask, Campaign

RUNNING = "A running campaign cannot be deleted: pause or cancel it first."
pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(org, skillbase):
    campaign = Campaign.objects.create(organization=org, name="Spring", skillbase=skillbase, dialer="simulator")
    CallTask.objects.create(organization=org, campaign=campaign, phone="+79123450001", name="Anna")
    return campaign


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_running_campaign_is_not_deleted_in_the_admin(client, operator, campaign):
    campaign.start()
    client.force_login(operator)
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/delete/").content.decode()
    assert RUNNING in page
    client.post(f"/admin/campaigns/campaign/{campaign.pk}/delete/", {"post": "yes"})
    bulk = client.post(
        "/admin/campaigns/campaign/", {"action": "delete_selected", "_selected_action": [campaign.pk], "post": "yes"}
    ).content.decode()
    assert RUNNING in bulk
    assert Campaign.objects.filter(pk=campaign.pk).exists()


def test_a_running_campaign_is_not_deleted_through_the_api(operator, campaign):
    campaign.start()
    response = api(operator).delete(f"/api/campaigns/{campaign.pk}")
    assert response.status_code == 409 and response.json()["detail"] == RUNNING
    assert Campaign.objects.filter(pk=campaign.pk).exists()


def test_a_paused_campaign_is_deleted_in_the_admin(client, operator, campaign):
    campaign.start()
    campaign.pause()
    client.force_login(operator)
    client.post(f"/admin/campaigns/campaign/{campaign.pk}/delete/", {"post": "yes"})
    assert not Campaign.objects.filter(pk=campaign.pk).exists()


def test_a_skillbase_in_use_is_not_deleted_by_any_door(client, operator, campaign, skillbase):
    campaign.start()
    expected = "The skillbase is used by running or paused campaigns: Spring. Cancel them first."
    assert skillbase.deletion_problem() == expected
    response = api(operator).delete(f"/api/skillbases/{skillbase.pk}")
    assert response.status_code == 409 and response.json()["detail"] == expected
    client.force_login(operator)
    assert expected in client.get(f"/admin/skillbases/skillbase/{skillbase.pk}/delete/").content.decode()
    client.post(f"/admin/skillbases/skillbase/{skillbase.pk}/delete/", {"post": "yes"})
    skillbase.refresh_from_db()


def test_a_refused_control_says_the_same_in_the_admin_the_api_and_the_command(client, operator, campaign):
    words = "Only a running campaign can be paused; this one is Draft."
    response = api(operator).post(f"/api/campaigns/{campaign.pk}/pause")
    assert response.status_code == 409 and response.json() == {"detail": "The campaign cannot be paused.", "problems": [words]}
    client.force_login(operator)
    page = client.post(f"/admin/campaigns/campaign/{campaign.pk}/control/pause/", follow=True).content.decode()
    assert f"Spring: {words}" in page
    with pytest.raises(CommandError) as refused:
        call_command("campaign", "pause", str(campaign.pk), stdout=StringIO())
    assert str(refused.value) == f"The campaign cannot be paused. {words}"


def test_a_start_that_another_door_made_first_is_refused_not_repeated(operator, campaign):
    """Two operators press start at once: the second changed nothing and is told so (409), instead of
    a 200 as if it had started the campaign."""
    late = Campaign.objects.get(pk=campaign.pk)  # read before the first start
    assert campaign.control("start") == []
    assert late.status == Campaign.Status.DRAFT
    assert late.control("start") == ["Only a draft or paused campaign can start; this one is Running."]


def test_an_unknown_control_is_an_error_not_a_cancel(campaign):
    with pytest.raises(ValueError, match="Unknown campaign control 'status'"):
        campaign.control("status")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
