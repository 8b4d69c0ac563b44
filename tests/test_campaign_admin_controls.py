"""Starting, pausing, resuming and cancelling campaigns from the admin."""

import pytest

from campaigns.models import CallTask, Campaign


@pytest.fixture
def campaign(org, skillbase):
    campaign = Campaign.objects.create(organization=org, name="Spring", skillbase=skillbase, dialer="simulator")
    CallTask.objects.create(organization=org, campaign=campaign, phone="+79123450001", name="Anna")
    return campaign


def control(client, campaign, verb):
    return client.post(f"/admin/campaigns/campaign/{campaign.pk}/control/{verb}/", follow=True)


def test_buttons_move_the_campaign_through_its_states(client, operator, campaign):
    client.force_login(operator)
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert 'id="campaign-start"' in page and 'id="campaign-pause"' not in page
    assert "started." in control(client, campaign, "start").content.decode()
    campaign.refresh_from_db()
    assert campaign.status == "running" and campaign.started_at is not None
    assert 'id="campaign-pause"' in client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    control(client, campaign, "pause")
    campaign.refresh_from_db()
    assert campaign.status == "paused" and campaign.status_reason == "Paused by an operator."
    control(client, campaign, "resume")
    campaign.refresh_from_db()
    assert campaign.status == "running"
    control(client, campaign, "cancel")
    campaign.refresh_from_db()
    assert campaign.status == "cancelled" and CallTask.objects.get().status == "cancelled"


def test_a_refused_start_shows_the_reasons(client, operator, campaign):
    CallTask.objects.all().delete()
    client.force_login(operator)
    page = control(client, campaign, "start").content.decode()
    assert "There is nobody to call: import contacts first." in page
    campaign.refresh_from_db()
    assert campaign.status == "draft"


def test_changelist_actions(client, operator, campaign):
    client.force_login(operator)
    response = client.post("/admin/campaigns/campaign/", {"action": "start_campaigns", "_selected_action": [campaign.pk]}, follow=True)
    assert "started." in response.content.decode()
    assert Campaign.objects.get().status == "running"
    response = client.post("/admin/campaigns/campaign/", {"action": "resume_campaigns", "_selected_action": [campaign.pk]}, follow=True)
    assert "Only a paused campaign can resume; this one is" in response.content.decode()


def test_roles_and_organizations(client, viewer, outsider, campaign):
    client.force_login(viewer)
    assert client.post(f"/admin/campaigns/campaign/{campaign.pk}/control/start/").status_code == 403
    client.force_login(outsider)
    assert client.post(f"/admin/campaigns/campaign/{campaign.pk}/control/start/").status_code == 404
    assert Campaign.objects.get().status == "draft"
    client.force_login(viewer)
    assert client.get(f"/admin/campaigns/campaign/{campaign.pk}/control/start/").status_code in (403, 404)
