"""Starting, pausing, resuming, cancelling and deleting a campaign through the API."""

import pytest
from rest_framework.test import APIClient

from campaigns.models import CallTask, Campaign
from tests.support.engine import make_campaign, use_scripted_dialer

Status = Campaign.Status


@pytest.fixture(autouse=True)
def scripted_line(settings):
    use_scripted_dialer(settings)


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def post(user, campaign, verb):
    return api(user).post(f"/api/campaigns/{campaign.pk}/{verb}")


def in_state(campaign, state, reason="") -> Campaign:
    Campaign.objects.filter(pk=campaign.pk).update(status=state, status_reason=reason)
    campaign.refresh_from_db()
    return campaign


@pytest.fixture
def ready(org, skillbase):
    return make_campaign(org, skillbase, contacts=2)


def test_start(ready, operator):
    response = post(operator, ready, "start")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "running", "status_reason": ""}
    ready.refresh_from_db()
    assert ready.status == Status.RUNNING and ready.started_at


def test_start_refused_lists_the_problems(org, skillbase, operator):
    campaign = make_campaign(org, skillbase, contacts=0)
    response = post(operator, campaign, "start")
    assert response.status_code == 409
    assert response.json() == {"detail": "The campaign cannot start.", "problems": ["There is nobody to call: import contacts first."]}
    campaign.refresh_from_db()
    assert campaign.status == Status.DRAFT


def test_start_a_running_campaign_is_409(ready, operator):
    in_state(ready, Status.RUNNING)
    response = post(operator, ready, "start")
    assert response.status_code == 409
    assert response.json()["problems"] == ["Only a draft or paused campaign can start; this one is Running."]


def test_pause_and_resume(ready, operator):
    in_state(ready, Status.RUNNING)
    response = post(operator, ready, "pause")
    assert response.status_code == 200
    assert response.json() == {"status": "paused", "status_reason": "Paused by an operator."}
    response = post(operator, ready, "resume")
    assert response.status_code == 200 and response.json()["status"] == "running"


def test_pause_a_draft_is_409_with_the_reason(ready, operator):
    response = post(operator, ready, "pause")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "The campaign cannot be paused.",
        "problems": ["Only a running campaign can be paused; this one is Draft."],
    }


def test_resume_a_draft_is_409(ready, operator):
    response = post(operator, ready, "resume")
    assert response.status_code == 409
    assert response.json()["problems"] == ["Only a paused campaign can resume; this one is Draft."]
    ready.refresh_from_db()
    assert ready.status == Status.DRAFT


def test_resume_refused_lists_the_problems(org, skillbase, operator):
    campaign = in_state(make_campaign(org, skillbase, contacts=0), Status.PAUSED)
    response = post(operator, campaign, "resume")
    assert response.status_code == 409
    assert response.json()["problems"] == ["There is nobody to call: import contacts first."]


def test_cancel(ready, operator):
    response = post(operator, ready, "cancel")
    assert response.status_code == 200
    assert response.json() == {"status": "cancelled", "status_reason": "Cancelled."}
    assert set(ready.tasks.values_list("status", flat=True)) == {CallTask.Status.CANCELLED}


def test_cancel_a_completed_campaign_is_409(ready, operator):
    in_state(ready, Status.COMPLETED, "Done.")
    response = post(operator, ready, "cancel")
    assert response.status_code == 409 and "Completed" in response.json()["problems"][0]


@pytest.mark.parametrize("verb", ["start", "pause", "resume", "cancel"])
def test_viewer_is_forbidden(ready, viewer, verb):
    in_state(ready, Status.RUNNING if verb in ("pause", "cancel") else Status.DRAFT)
    assert post(viewer, ready, verb).status_code == 403


@pytest.mark.parametrize("verb", ["start", "pause", "resume", "cancel"])
def test_another_organizations_campaign_is_not_found(ready, outsider, verb):
    assert post(outsider, ready, verb).status_code == 404
    ready.refresh_from_db()
    assert ready.status == Status.DRAFT


@pytest.mark.parametrize("verb", ["start", "pause", "resume", "cancel"])
def test_anonymous_is_refused(ready, verb):
    assert post(None, ready, verb).status_code in (401, 403)


# Delete


def test_delete_a_running_campaign_is_409(ready, operator):
    in_state(ready, Status.RUNNING)
    response = api(operator).delete(f"/api/campaigns/{ready.pk}")
    assert response.status_code == 409 and "pause or cancel it first" in response.json()["detail"]
    assert Campaign.objects.filter(pk=ready.pk).exists()


def test_delete_a_draft_campaign(ready, operator):
    assert api(operator).delete(f"/api/campaigns/{ready.pk}").status_code == 204
    assert not Campaign.objects.filter(pk=ready.pk).exists()


def test_viewer_cannot_delete(ready, viewer):
    assert api(viewer).delete(f"/api/campaigns/{ready.pk}").status_code == 403


def test_delete_another_organizations_campaign_is_404(ready, outsider):
    assert api(outsider).delete(f"/api/campaigns/{ready.pk}").status_code == 404
