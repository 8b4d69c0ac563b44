"""Skillbases as JSON files through django-import-export: the admin's export and two-step import,
and the resource itself."""

import copy
import json

import pytest
import tablib
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from skillbases.models import Skillbase, SkillbaseVersion
from skillbases.resources import IMPORT_NOTE, SkillbaseResource
from skillbases.schemas import ConfigError, validate_config
from tenancy.models import Membership, Role

EXPORT_URL = reverse("admin:skillbases_skillbase_export")
IMPORT_URL = reverse("admin:skillbases_skillbase_import")
PROCESS_URL = reverse("admin:skillbases_skillbase_process_import")
FIELDS = ("name", "description", "context", "flow", "voice", "llm")


def export_json(client) -> list[dict]:
    data = {"format": "0", "resource": "0", **{f"skillbaseresource_{field}": "on" for field in FIELDS}}
    response = client.post(EXPORT_URL, data)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    return json.loads(response.content)


def upload(rows: list[dict]) -> SimpleUploadedFile:
    return SimpleUploadedFile("skillbases.json", json.dumps(rows, ensure_ascii=False).encode(), content_type="application/json")


def preview(client, organization, rows):
    """Step one: upload, dry run, preview."""
    return client.post(IMPORT_URL, {"organization": organization.pk, "resource": "0", "format": "0", "import_file": upload(rows)})


def confirm(client, page):
    """Step two: post the confirmation form the preview rendered."""
    form = page.context["confirm_form"]
    return client.post(PROCESS_URL, {name: form[name].value() for name in form.fields})


def row(config, name="Imported bot", **extra) -> dict:
    return {"name": name, "description": "From a file", **copy.deepcopy(config), **extra}


@pytest.fixture
def theirs(other_org, skillbase_factory):
    return skillbase_factory(other_org, name="Their secret bot")


def test_export_is_json_of_the_members_skillbases(client, operator, skillbase, theirs):
    client.force_login(operator)
    exported = export_json(client)
    assert [item["name"] for item in exported] == ["Reminder"]
    [item] = exported
    assert set(item) == set(FIELDS)
    # Sections are nested objects, not JSON strings inside JSON.
    assert item["flow"] == skillbase.flow and item["llm"]["provider"] == "flow"


def test_exported_file_imports_back_in_two_steps(client, org, operator, skillbase):
    client.force_login(operator)
    [exported] = export_json(client)
    exported["name"] = "Reminder copy"

    page = preview(client, org, [exported])

    assert page.status_code == 200
    assert page.context["confirm_form"] is not None
    assert [r.import_type for r in page.context["result"].rows] == ["new"]
    assert not Skillbase.objects.filter(name="Reminder copy").exists()  # the dry run wrote nothing

    response = confirm(client, page)

    assert response.status_code == 302
    copied = Skillbase.objects.get(name="Reminder copy")
    assert copied.organization == org
    assert copied.config_dict() == skillbase.config_dict()
    version = copied.versions.get()
    assert (version.version, version.author, version.note) == (1, operator, IMPORT_NOTE)


def test_import_updates_by_name_within_the_organization(client, org, other_org, operator, skillbase, theirs, minimal_config):
    changed = copy.deepcopy(minimal_config)
    changed["context"]["goal"] = "remind about the visit"
    client.force_login(operator)

    page = preview(client, org, [row(changed, name="Reminder"), row(changed, name="Their secret bot")])
    assert [r.import_type for r in page.context["result"].rows] == ["update", "new"]
    assert confirm(client, page).status_code == 302

    skillbase.refresh_from_db()
    assert skillbase.context["goal"] == "remind about the visit"
    latest = skillbase.versions.first()
    assert (skillbase.version, latest.version, latest.note, latest.author) == (2, 2, IMPORT_NOTE, operator)
    # Same name in our organization: a new skillbase; theirs is untouched.
    assert Skillbase.objects.filter(organization=org, name="Their secret bot").exists()
    theirs.refresh_from_db()
    assert (theirs.version, theirs.context["goal"]) == (1, minimal_config["context"]["goal"])


def test_bad_row_shows_its_config_error_with_the_path_and_nothing_is_written(client, org, operator, minimal_config):
    broken = copy.deepcopy(minimal_config)
    broken["flow"]["steps"][0]["transitions"][1]["goto"] = "nowhere"
    with pytest.raises(ConfigError) as caught:
        validate_config(broken)
    [expected] = caught.value.by_section()["flow"]
    assert expected.startswith("flow.steps[0].transitions[1].goto: ")
    client.force_login(operator)

    page = preview(client, org, [row(minimal_config, name="Good bot"), row(broken, name="Bad bot")])

    assert page.status_code == 200
    assert page.context.get("confirm_form") is None
    [invalid] = page.context["result"].invalid_rows
    assert invalid.number == 2
    assert invalid.field_specific_errors["flow"] == [expected]
    assert expected.replace("'", "&#x27;") in page.content.decode()
    assert not Skillbase.objects.exists()
    assert not SkillbaseVersion.objects.exists()


def test_row_with_broken_json_text_is_reported(client, org, operator, minimal_config):
    client.force_login(operator)
    page = preview(client, org, [row(minimal_config, flow='{"start": ')])
    [invalid] = page.context["result"].invalid_rows
    assert invalid.field_specific_errors["flow"][0] == "This section is text that is not JSON: Expecting value at line 1, column 11."
    assert not Skillbase.objects.exists()


def test_members_import_only_into_their_own_organizations(client, org, other_org, operator, viewer, minimal_config):
    client.force_login(operator)
    page = preview(client, other_org, [row(minimal_config)])
    assert "organization" in page.context["form"].errors
    assert page.context.get("result") is None
    # The confirmation step re-checks the organization: a forged one is refused too.
    good = preview(client, org, [row(minimal_config)])
    form = good.context["confirm_form"]
    forged = {name: form[name].value() for name in form.fields} | {"organization": other_org.pk}
    assert client.post(PROCESS_URL, forged).status_code == 200
    assert not Skillbase.objects.exists()

    client.force_login(viewer)
    assert client.get(IMPORT_URL).status_code == 403
    assert client.get(EXPORT_URL).status_code == 200


def test_operator_of_two_organizations_chooses_where_to_import(client, org, other_org, operator, minimal_config):
    Membership.objects.create(organization=other_org, user=operator, role=Role.OPERATOR)
    client.force_login(operator)
    page = client.get(IMPORT_URL)
    assert set(page.context["form"].fields["organization"].queryset) == {org, other_org}
    assert confirm(client, preview(client, other_org, [row(minimal_config)])).status_code == 302
    assert Skillbase.objects.get().organization == other_org


def test_resource_rolls_back_the_whole_file_when_a_row_is_bad(org, operator, minimal_config):
    broken = row(minimal_config, name="Bad bot")
    broken["context"] = {"role": "receptionist"}
    dataset = tablib.Dataset().load(json.dumps([row(minimal_config, name="Good bot"), broken]), format="json")

    result = SkillbaseResource(organization=org, author=operator).import_data(dataset, dry_run=False)

    assert result.has_validation_errors()
    [invalid] = result.invalid_rows
    assert all(message.startswith("context.") for message in invalid.error_dict["context"])
    assert not Skillbase.objects.exists()
    assert not SkillbaseVersion.objects.exists()


def test_resource_import_without_organization_is_refused(db, minimal_config):
    dataset = tablib.Dataset().load(json.dumps([row(minimal_config)]), format="json")
    result = SkillbaseResource().import_data(dataset, dry_run=True)
    assert result.has_errors()
    assert "organization" in str(result.base_errors[0].error)


def test_single_organization_is_preselected_for_import(client, org, operator):
    client.force_login(operator)
    form = client.get(IMPORT_URL).context["form"]
    assert form.initial["organization"] == org.pk
    assert list(form.fields["organization"].queryset) == [org]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 5000 + b"]" * 5000, "The file is nested too deeply to be a skillbase file."),
        (b"{not json", "The file is not valid JSON: Expecting property name enclosed in double quotes at line 1, column 2."),
        (b"[1, 2]", "Skillbase 1 of the file is a number, not an object with a name and sections."),
        (b'[["a"]]', "Skillbase 1 of the file is a list, not an object with a name and sections."),
        (b'"text"', "A skillbase file holds a list of skillbases, as the export writes it; this file holds text."),
        (b"[]", "The file holds no skillbases."),
        (b"\xff\xfe\x00garbage", "The file is not UTF-8 text: export the skillbase again, or save the file as UTF-8."),
        (b'[{"nome": "A"}]', "Skillbase 1 has fields a skillbase does not have: nome. A skillbase has: "
                             "name, description, context, flow, voice, llm."),
        (b'[{"name": ["list"]}]', "Skillbase 1 has no name (text)."),
        (b'[{"name": "A", "flow": [1]}]', "Section 'flow' of skillbase 1 (A) must be an object, not a list."),
    ],
)  # fmt: skip
def test_a_file_that_is_not_a_skillbase_file_says_what_is_wrong_with_it(client, org, operator, body, message):
    client.force_login(operator)
    before = Skillbase.objects.count()
    page = client.post(
        IMPORT_URL, {"organization": org.pk, "resource": "0", "format": "0", "import_file": SimpleUploadedFile("s.json", body)}
    )
    assert page.status_code == 200
    assert page.context["form"].errors["import_file"] == [message]
    assert Skillbase.objects.count() == before


def test_a_single_skillbase_object_imports_like_a_list_of_one(client, org, operator, minimal_config):
    client.force_login(operator)
    body = json.dumps(row(minimal_config, name="One bot")).encode()
    page = client.post(
        IMPORT_URL, {"organization": org.pk, "resource": "0", "format": "0", "import_file": SimpleUploadedFile("s.json", body)}
    )
    assert [r.import_type for r in page.context["result"].rows] == ["new"]
