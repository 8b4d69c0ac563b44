"""The skillbase API: CRUD through the versioning model, config errors with their JSON paths,
versions, rollback, validation without saving, and who may do what."""

import copy

import pytest
from rest_framework.test import APIClient

from campaigns.models import Campaign
from skillbases.models import Skillbase, SkillbaseVersion


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def broken_flow(config: dict) -> dict:
    config = copy.deepcopy(config)
    config["flow"]["steps"][0]["transitions"][0]["goto"] = "nowhere"
    return config


# List and retrieve


def test_list_shows_only_my_organizations_skillbases(org, other_org, viewer, skillbase_factory):
    mine = skillbase_factory(org, "Mine")
    skillbase_factory(other_org, "Theirs")
    response = api(viewer).get("/api/skillbases")
    assert response.status_code == 200
    body = response.json()
    assert [row["id"] for row in body["results"]] == [mine.pk]
    row = body["results"][0]
    assert set(row) == {
        "id",
        "organization",
        "name",
        "description",
        "context",
        "flow",
        "voice",
        "llm",
        "version",
        "created_at",
        "updated_at",
    }
    assert row["version"] == 1 and row["flow"]["start"] == "greeting"


def test_list_has_no_n_plus_one(org, viewer, skillbase_factory, django_assert_max_num_queries):
    skillbase_factory(org, "One")
    client = api(viewer)
    with django_assert_max_num_queries(3) as one:
        assert client.get("/api/skillbases").status_code == 200
    for number in range(4):
        skillbase_factory(org, f"More {number}")
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert len(client.get("/api/skillbases").json()["results"]) == 5


def test_retrieve(skillbase, viewer):
    response = api(viewer).get(f"/api/skillbases/{skillbase.pk}")
    assert response.status_code == 200 and response.json()["name"] == "Reminder"


def test_another_organizations_skillbase_is_not_found(skillbase, outsider):
    client = api(outsider)
    assert client.get(f"/api/skillbases/{skillbase.pk}").status_code == 404
    assert client.patch(f"/api/skillbases/{skillbase.pk}", {"name": "Mine now"}, format="json").status_code == 404
    assert client.delete(f"/api/skillbases/{skillbase.pk}").status_code == 404
    assert client.get(f"/api/skillbases/{skillbase.pk}/versions").status_code == 404
    assert client.post(f"/api/skillbases/{skillbase.pk}/rollback", {"version": 1}, format="json").status_code == 404
    assert Skillbase.objects.get(pk=skillbase.pk).name == "Reminder"


@pytest.mark.parametrize("method, path", [("get", ""), ("post", ""), ("get", "/{pk}"), ("delete", "/{pk}"), ("post", "/validate")])
def test_anonymous_is_refused(skillbase, method, path):
    response = getattr(api(), method)("/api/skillbases" + path.format(pk=skillbase.pk), {}, format="json")
    assert response.status_code in (401, 403)


# Create


def test_create_saves_a_first_version_with_author_and_note(org, operator, minimal_config):
    response = api(operator).post("/api/skillbases", {"name": "Bot", "note": "First draft", **minimal_config}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["version"] == 1 and body["organization"] == org.pk and "note" not in body
    version = SkillbaseVersion.objects.get(skillbase_id=body["id"])
    assert (version.version, version.author, version.note) == (1, operator, "First draft")


def test_create_with_a_broken_flow_is_400_with_the_path_and_writes_nothing(operator, minimal_config):
    response = api(operator).post("/api/skillbases", {"name": "Bot", **broken_flow(minimal_config)}, format="json")
    assert response.status_code == 400
    assert response.json() == {"flow": ["flow.steps[0].transitions[0].goto: There is no step 'nowhere' to go to."]}
    assert not Skillbase.objects.exists() and not SkillbaseVersion.objects.exists()


def test_create_reports_every_section_with_problems(operator, minimal_config):
    config = broken_flow(minimal_config)
    config["context"]["language"] = 42
    response = api(operator).post("/api/skillbases", {"name": "Bot", **config}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"context", "flow"}
    assert body["context"][0].startswith("context.language: ")


def test_duplicate_name_is_400(skillbase, operator, minimal_config):
    response = api(operator).post("/api/skillbases", {"name": skillbase.name, **minimal_config}, format="json")
    assert response.status_code == 400 and "name" in response.json()


def test_malformed_json_is_400(operator):
    response = api(operator).post("/api/skillbases", '{"name": "Bot", "flow": {', content_type="application/json")
    assert response.status_code == 400 and "JSON parse error" in response.json()["detail"]
    assert not Skillbase.objects.exists()


def test_viewer_cannot_create(viewer, minimal_config):
    response = api(viewer).post("/api/skillbases", {"name": "Bot", **minimal_config}, format="json")
    assert response.status_code == 403
    assert not Skillbase.objects.exists()


def test_cannot_create_in_another_organization(other_org, operator, minimal_config):
    response = api(operator).post("/api/skillbases", {"name": "Bot", "organization": other_org.pk, **minimal_config}, format="json")
    assert response.status_code == 400 and "organization" in response.json()


# Update


def test_patch_of_one_section_is_validated_against_the_stored_rest(skillbase, operator, minimal_config):
    flow = copy.deepcopy(skillbase.flow)
    flow["steps"][1]["say"] = "Wonderful, see you then."
    response = api(operator).patch(f"/api/skillbases/{skillbase.pk}", {"flow": flow, "note": "Warmer"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2
    latest = skillbase.versions.get(version=2)
    assert (latest.author.username, latest.note) == ("acme-operator", "Warmer")


def test_rename_makes_no_new_version(skillbase, operator):
    response = api(operator).patch(f"/api/skillbases/{skillbase.pk}", {"name": "Renamed"}, format="json")
    assert response.status_code == 200 and response.json()["version"] == 1
    assert skillbase.versions.count() == 1


def test_patch_with_a_broken_flow_is_400_and_changes_nothing(skillbase, operator):
    flow = broken_flow({"flow": skillbase.flow})["flow"]
    response = api(operator).patch(f"/api/skillbases/{skillbase.pk}", {"flow": flow}, format="json")
    assert response.status_code == 400
    assert response.json() == {"flow": ["flow.steps[0].transitions[0].goto: There is no step 'nowhere' to go to."]}
    skillbase.refresh_from_db()
    assert skillbase.version == 1 and skillbase.flow["steps"][0]["transitions"][0]["goto"] == "confirmed"
    assert skillbase.versions.count() == 1


def test_put_replaces_the_config(skillbase, operator, minimal_config):
    minimal_config["context"]["company"] = "New Clinic"
    response = api(operator).put(f"/api/skillbases/{skillbase.pk}", {"name": "Reminder", **minimal_config}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2 and response.json()["context"]["company"] == "New Clinic"


def test_viewer_cannot_update(skillbase, viewer):
    response = api(viewer).patch(f"/api/skillbases/{skillbase.pk}", {"name": "X"}, format="json")
    assert response.status_code == 403


# Delete


def test_delete_an_unused_skillbase(skillbase, operator):
    assert api(operator).delete(f"/api/skillbases/{skillbase.pk}").status_code == 204
    assert not Skillbase.objects.exists() and not SkillbaseVersion.objects.exists()


def test_viewer_cannot_delete(skillbase, viewer):
    assert api(viewer).delete(f"/api/skillbases/{skillbase.pk}").status_code == 403
    assert Skillbase.objects.exists()


@pytest.mark.parametrize("state", [Campaign.Status.RUNNING, Campaign.Status.PAUSED])
def test_delete_a_skillbase_of_an_active_campaign_is_409_naming_it(org, skillbase, operator, state):
    Campaign.objects.create(organization=org, name="Spring sale", skillbase=skillbase, status=state)
    response = api(operator).delete(f"/api/skillbases/{skillbase.pk}")
    assert response.status_code == 409
    assert "running or paused" in response.json()["detail"] and "Spring sale" in response.json()["detail"]
    assert Skillbase.objects.filter(pk=skillbase.pk).exists()


def test_delete_a_skillbase_of_a_finished_campaign_is_409_not_500(org, skillbase, operator):
    Campaign.objects.create(organization=org, name="Old sale", skillbase=skillbase, status=Campaign.Status.COMPLETED)
    response = api(operator).delete(f"/api/skillbases/{skillbase.pk}")
    assert response.status_code == 409 and "Old sale" in response.json()["detail"]
    assert Skillbase.objects.filter(pk=skillbase.pk).exists()


# Versions and rollback


def edited(skillbase, company: str, note: str = "") -> None:
    skillbase.context = {**skillbase.context, "company": company}
    skillbase.save(note=note)


def test_versions_newest_first_with_author(skillbase, operator, viewer):
    skillbase.context = {**skillbase.context, "company": "Second"}
    skillbase.save(author=operator, note="Renamed the company")
    response = api(viewer).get(f"/api/skillbases/{skillbase.pk}/versions")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    newest, first = body["results"]
    assert (newest["version"], newest["author"], newest["note"]) == (2, "acme-operator", "Renamed the company")
    assert (first["version"], first["author"]) == (1, None) and first["created_at"]


def test_versions_unauthenticated(skillbase):
    assert api().get(f"/api/skillbases/{skillbase.pk}/versions").status_code in (401, 403)


def test_rollback_makes_a_new_version(skillbase, operator):
    edited(skillbase, "Second")
    response = api(operator).post(f"/api/skillbases/{skillbase.pk}/rollback", {"version": 1}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"version": 3, "rolled_back_to": 1}
    skillbase.refresh_from_db()
    assert skillbase.context["company"] == "Test Clinic"
    latest = skillbase.versions.get(version=3)
    assert (latest.author, latest.note) == (operator, "Rollback to version 1")


def test_rollback_to_an_unknown_version_is_400_naming_it(skillbase, operator):
    response = api(operator).post(f"/api/skillbases/{skillbase.pk}/rollback", {"version": 7}, format="json")
    assert response.status_code == 400
    assert "Version 7" in response.json()["version"][0]
    assert skillbase.versions.count() == 1


@pytest.mark.parametrize("body", [{}, {"version": "one"}, {"version": 0}])
def test_rollback_bad_input_is_400(skillbase, operator, body):
    response = api(operator).post(f"/api/skillbases/{skillbase.pk}/rollback", body, format="json")
    assert response.status_code == 400 and "version" in response.json()


def test_rollback_malformed_json_is_400(skillbase, operator):
    response = api(operator).post(f"/api/skillbases/{skillbase.pk}/rollback", "{version", content_type="application/json")
    assert response.status_code == 400


def test_viewer_cannot_rollback(skillbase, viewer):
    edited(skillbase, "Second")
    response = api(viewer).post(f"/api/skillbases/{skillbase.pk}/rollback", {"version": 1}, format="json")
    assert response.status_code == 403
    assert skillbase.versions.count() == 2


def test_rollback_unauthenticated(skillbase):
    assert api().post(f"/api/skillbases/{skillbase.pk}/rollback", {"version": 1}, format="json").status_code in (401, 403)


# Validate


def test_validate_a_valid_config(operator, minimal_config):
    response = api(operator).post("/api/skillbases/validate", minimal_config, format="json")
    assert response.status_code == 200 and response.json() == {"valid": True}
    assert not Skillbase.objects.exists()


def test_validate_lists_every_problem_with_its_path(operator, minimal_config):
    response = api(operator).post("/api/skillbases/validate", broken_flow(minimal_config), format="json")
    assert response.status_code == 400
    assert response.json() == {
        "valid": False,
        "errors": [{"path": "flow.steps[0].transitions[0].goto", "message": "There is no step 'nowhere' to go to."}],
    }
    assert not Skillbase.objects.exists() and not SkillbaseVersion.objects.exists()


def test_validate_malformed_json_is_400(operator):
    response = api(operator).post("/api/skillbases/validate", "{", content_type="application/json")
    assert response.status_code == 400 and "detail" in response.json()


def test_validate_a_non_object_is_400(operator):
    response = api(operator).post("/api/skillbases/validate", [1, 2], format="json")
    assert response.status_code == 400


def test_validate_needs_a_write_role(viewer, minimal_config):
    assert api(viewer).post("/api/skillbases/validate", minimal_config, format="json").status_code == 403
