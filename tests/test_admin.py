"""The admin through the real admin site and test client: scoping, roles, forms and query counts."""

import datetime as dt
import json

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from analytics.models import CallMetrics, DailyCallStats, DailyStepStats, Price, StepReached
from campaigns.models import Call, CallLog, CallRecording, CallTask, Campaign, ContactImport, DoNotCallEntry
from skillbases.models import Skillbase, SkillbaseTest, SkillbaseTestRun, SkillbaseVersion
from skillbases.schemas import ConfigError, validate_config
from tenancy.models import ApiToken, AuditEntry, Membership, Organization, Role

PROJECT_APPS = ("newvoice", "skillbases", "campaigns", "analytics", "voiceagent")
PROJECT_MODELS = sorted((model for model in admin.site._registry if model._meta.app_label in PROJECT_APPS), key=lambda m: m._meta.label)
# Rows the engine writes and nobody edits by hand: no add page, not even for a superuser.
READ_ONLY_MODELS = {SkillbaseVersion, Call, CallMetrics, CallLog, ContactImport, AuditEntry}
# The step funnel's rows repeat CallMetrics.steps_reached, which the call's pages show.
# Figures shown on the call pages and the dashboard; a call's recording is played on its call page.
# A skillbase's test conversations are written on its page; their runs are shown on the version's.
NOT_IN_ADMIN = {StepReached, DailyCallStats, DailyStepStats, CallRecording, SkillbaseTest, SkillbaseTestRun}


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def make_world(organization: Organization, tag: str, skillbase_factory, *, digits: str) -> dict:
    """One row of every model in ``organization``; ``tag`` and ``digits`` make its rows recognisable."""
    skillbase = skillbase_factory(organization, name=f"Skillbase {tag}")
    version = skillbase.current_version
    campaign = Campaign.objects.create(organization=organization, name=f"Campaign {tag}", skillbase=skillbase)
    task = CallTask.objects.create(organization=organization, campaign=campaign, phone=f"+7999{digits}01", name=f"Contact {tag}")
    call = Call.objects.create(
        organization=organization,
        campaign=campaign,
        task=task,
        attempt=1,
        skillbase_version=version,
        phone=task.phone,
        dialer="simulator",
        status=Call.Status.ENDED,
        outcome="success",
        ended_at=timezone.now(),
    )
    metrics = CallMetrics.objects.create(
        organization=organization,
        call=call,
        campaign=campaign,
        skillbase=skillbase,
        skillbase_version=version,
        outcome="success",
        ended_at=timezone.now(),
    )
    log = CallLog.objects.create(
        organization=organization, call=call, campaign=campaign, seq=1, kind=CallLog.Kind.TRANSCRIPT, role="user", text=f"Line {tag}"
    )
    dnc = DoNotCallEntry.objects.create(organization=organization, phone=f"+7999{digits}99", reason=f"Asked {tag}")
    contact_import = ContactImport.objects.create(
        organization=organization, campaign=campaign, file=f"imports/{tag}.csv", filename=f"contacts-{tag}.csv"
    )
    price = Price.objects.create(
        organization=organization,
        component="stt",
        provider=f"provider-{tag}",
        unit="minute",
        amount="0.01",
        effective_from=dt.date(2026, 1, 1),
    )
    return {
        Organization: organization,
        Skillbase: skillbase,
        SkillbaseVersion: version,
        Campaign: campaign,
        CallTask: task,
        Call: call,
        CallMetrics: metrics,
        CallLog: log,
        DoNotCallEntry: dnc,
        ContactImport: contact_import,
        Price: price,
        AuditEntry: AuditEntry.objects.get(action=AuditEntry.Action.SKILLBASE_CREATED, object_id=skillbase.pk),
    }


# What identifies each world's row on a changelist.
MARKERS = {
    Organization: lambda w: w[Organization].name,
    Skillbase: lambda w: w[Skillbase].name,
    SkillbaseVersion: lambda w: w[SkillbaseVersion].name,
    Campaign: lambda w: w[Campaign].name,
    CallTask: lambda w: w[CallTask].phone,
    Call: lambda w: w[Call].phone,
    CallMetrics: lambda w: str(w[Call]),
    CallLog: lambda w: w[CallLog].text,
    DoNotCallEntry: lambda w: w[DoNotCallEntry].phone,
    AuditEntry: lambda w: w[AuditEntry].object_repr,
    ContactImport: lambda w: w[ContactImport].filename,
    Price: lambda w: w[Price].provider,
}


@pytest.fixture
def worlds(org, other_org, skillbase_factory, operator, outsider):
    # List prices belong to no organization and every member reads them (test_analytics_admin.py):
    # here they would be in every member's list.
    Price.objects.filter(organization=None).delete()
    ours = make_world(org, "Ours", skillbase_factory, digits="1111")
    theirs = make_world(other_org, "Theirs", skillbase_factory, digits="2222")
    ours[Membership] = Membership.objects.get(user=operator)
    theirs[Membership] = Membership.objects.get(user=outsider)
    ours[ApiToken], _secret = ApiToken.objects.issue(operator, name="Token Ours")
    theirs[ApiToken], _secret = ApiToken.objects.issue(outsider, name="Token Theirs")
    return ours, theirs


def test_every_project_model_is_registered():
    models = {m for label in PROJECT_APPS for m in apps.get_app_config(label).get_models()}
    assert models - NOT_IN_ADMIN == set(PROJECT_MODELS)


# Superuser: every page of every model.


@pytest.mark.parametrize("model", PROJECT_MODELS, ids=lambda m: m._meta.label)
def test_superuser_opens_changelist_add_and_change_pages(client, superuser, worlds, model):
    client.force_login(superuser)
    ours, theirs = worlds
    assert client.get(url(model, "changelist")).status_code == 200
    assert client.get(url(model, "add")).status_code == (403 if model in READ_ONLY_MODELS else 200)
    for world in worlds:
        assert client.get(url(model, "change", world[model].pk)).status_code == 200
    assert client.get(url(model, "history", theirs[model].pk)).status_code == 200


# Members: only their organization's rows; another organization's objects are not found.

# API tokens are scoped by user (one's own, and an organization admin's members'): tests/test_api_auth.py.
# The audit log, like memberships, is for an organization's admins: tests/test_audit_log.py.
SCOPED_MODELS = [m for m in PROJECT_MODELS if m not in (Membership, ApiToken, AuditEntry)]


@pytest.mark.parametrize("model", SCOPED_MODELS, ids=lambda m: m._meta.label)
def test_member_sees_only_their_organizations_rows(client, viewer, worlds, model):
    client.force_login(viewer)
    ours, theirs = worlds
    page = client.get(url(model, "changelist"))
    assert page.status_code == 200
    html = page.content.decode()
    assert MARKERS[model](ours) in html
    assert MARKERS[model](theirs) not in html
    assert list(page.context["cl"].result_list) == [ours[model]]


@pytest.mark.parametrize("model", PROJECT_MODELS, ids=lambda m: m._meta.label)
def test_another_organizations_object_is_not_found(client, org_admin, worlds, model):
    client.force_login(org_admin)
    ours, theirs = worlds
    assert client.get(url(model, "change", ours[model].pk)).status_code == 200
    for view in ("change", "history", "delete"):
        assert client.get(url(model, view, theirs[model].pk)).status_code == 404
    assert client.get(url(model, "change", 987654)).status_code == 404


def test_memberships_are_managed_by_organization_admins_only(client, viewer, operator, org_admin, outsider, worlds):
    client.force_login(org_admin)
    page = client.get(url(Membership, "changelist"))
    html = page.content.decode()
    assert {m.user for m in page.context["cl"].result_list} == {viewer, operator, org_admin}
    assert outsider.username not in html
    for user in (viewer, operator):
        client.force_login(user)
        assert client.get(url(Membership, "changelist")).status_code == 403
        # Memberships are scoped by the admin role: to a viewer even their own looks missing.
        assert client.get(url(Membership, "change", worlds[0][Membership].pk)).status_code == 404


def test_organization_admin_cannot_create_membership_elsewhere(client, org, other_org, org_admin, member_factory):
    newcomer = member_factory(org, Role.VIEWER, username="newcomer")
    client.force_login(org_admin)
    # Not here either: an organization's admins invite (tests/test_invitations.py).
    for organization in (other_org, org):
        response = client.post(url(Membership, "add"), {"organization": organization.pk, "user": "newcomer", "role": Role.ADMIN})
        assert response.status_code == 403
    assert not Membership.objects.filter(organization=other_org, user=newcomer).exists()


def test_superuser_adds_member_by_username(client, org, superuser, django_user_model):
    django_user_model.objects.create_user(username="newcomer", password="x", is_staff=True)
    client.force_login(superuser)
    response = client.post(url(Membership, "add"), {"organization": org.pk, "user": "newcomer", "role": Role.OPERATOR})
    assert response.status_code == 302
    assert Membership.objects.get(user__username="newcomer").organization == org
    response = client.post(url(Membership, "add"), {"organization": org.pk, "user": "nobody-by-that-name", "role": Role.VIEWER})
    assert "user" in response.context["adminform"].form.errors


def test_organization_page_is_read_only_for_members_and_editable_for_its_admins(client, org, viewer, org_admin, outsider):
    client.force_login(viewer)
    page = client.get(url(Organization, "change", org.pk))
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    assert "inline_admin_formsets" in page.context and not page.context["inline_admin_formsets"]
    assert client.post(url(Organization, "change", org.pk), {"name": "Hijacked"}).status_code == 403
    assert client.get(url(Organization, "add")).status_code == 403

    client.force_login(org_admin)
    page = client.get(url(Organization, "change", org.pk))
    assert page.context["has_change_permission"]
    members = page.context["inline_admin_formsets"][0].formset
    assert {form.instance.user for form in members} == {viewer, org_admin}
    assert outsider not in {form.instance.user for form in members}


def test_index_lists_apps_for_members_and_hides_memberships_from_viewers(client, viewer, worlds):
    client.force_login(viewer)
    page = client.get(reverse("admin:index"))
    models = {m["object_name"] for app in page.context["app_list"] for m in app["models"]}
    assert {"Skillbase", "Campaign", "CallTask", "Call", "CallLog", "Organization"} <= models
    assert "Membership" not in models
    assert "User" not in models


# Roles.


def skillbase_form_data(organization, config, *, name="Welcome bot", note="", **extra) -> dict:
    data = {
        "organization": organization.pk,
        "name": name,
        "description": "",
        "change_note": note,
        **{section: json.dumps(config.get(section, {})) for section in ("context", "flow", "voice", "llm")},
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        "tests-TOTAL_FORMS": "0",
        "tests-INITIAL_FORMS": "0",
    }
    return {**data, **extra}


def test_viewer_can_look_but_not_add_or_change(client, org, viewer, skillbase, minimal_config):
    client.force_login(viewer)
    assert client.get(url(Skillbase, "add")).status_code == 403
    assert client.get(url(Campaign, "add")).status_code == 403
    assert client.post(url(Skillbase, "add"), skillbase_form_data(org, minimal_config)).status_code == 403
    page = client.get(url(Skillbase, "change", skillbase.pk))
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    response = client.post(url(Skillbase, "change", skillbase.pk), skillbase_form_data(org, minimal_config, name="Renamed"))
    assert response.status_code == 403
    assert client.post(url(Skillbase, "delete", skillbase.pk), {"post": "yes"}).status_code == 403
    skillbase.refresh_from_db()
    assert skillbase.name == "Reminder"


def test_operator_adds_skillbase_and_a_version_with_author_is_recorded(client, org, operator, minimal_config):
    client.force_login(operator)
    response = client.post(url(Skillbase, "add"), skillbase_form_data(org, minimal_config, note="First draft"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    skillbase = Skillbase.objects.get(name="Welcome bot")
    assert skillbase.organization == org and skillbase.version == 1
    version = skillbase.versions.get()
    assert (version.version, version.author, version.note) == (1, operator, "First draft")
    # Saved normalised: the defaults of the empty voice and llm sections are filled in.
    assert version.config["llm"]["provider"] == "flow"


def test_operator_edit_records_a_new_version_and_a_rename_does_not(client, org, operator, skillbase, minimal_config):
    client.force_login(operator)
    minimal_config["flow"]["steps"][1]["say"] = "Wonderful, see you tomorrow."
    data = skillbase_form_data(org, minimal_config, name="Reminder", note="Warmer goodbye")
    assert client.post(url(Skillbase, "change", skillbase.pk), data).status_code == 302
    latest = skillbase.versions.first()
    assert (latest.version, latest.author, latest.note) == (2, operator, "Warmer goodbye")
    data = skillbase_form_data(org, minimal_config, name="Reminder 2")
    assert client.post(url(Skillbase, "change", skillbase.pk), data).status_code == 302
    skillbase.refresh_from_db()
    assert (skillbase.name, skillbase.version, skillbase.versions.count()) == ("Reminder 2", 2, 2)


def config_messages(config) -> dict[str, list[str]]:
    with pytest.raises(ConfigError) as caught:
        validate_config(config)
    return caught.value.by_section()


def test_invalid_config_shows_the_json_path_next_to_its_field_and_writes_nothing(client, org, operator, minimal_config):
    minimal_config["flow"]["steps"][0]["transitions"][0]["goto"] = "nowhere"
    expected = config_messages(minimal_config)["flow"]
    assert expected[0].startswith("flow.steps[0].transitions[0].goto: ")
    client.force_login(operator)

    response = client.post(url(Skillbase, "add"), skillbase_form_data(org, minimal_config))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["flow"] == expected
    assert set(errors) == {"flow"}
    flow_row = response.content.decode().split('class="form-row errors field-flow"')[1].split('class="form-row')[0]
    assert "flow.steps[0].transitions[0].goto: " in flow_row
    assert not Skillbase.objects.exists()
    assert not SkillbaseVersion.objects.exists()


def test_errors_of_several_sections_land_on_their_own_fields(client, org, operator, skillbase, minimal_config):
    minimal_config["context"]["language"] = "klingon"
    minimal_config["llm"] = {"provider": "nope"}
    expected = config_messages(minimal_config)
    client.force_login(operator)
    data = skillbase_form_data(org, minimal_config, name="Reminder")
    response = client.post(url(Skillbase, "change", skillbase.pk), data)
    errors = response.context["adminform"].form.errors
    assert errors["context"] == expected["context"] and errors["context"][0].startswith("context.language: ")
    assert errors["llm"] == expected["llm"] and errors["llm"][0].startswith("llm.provider: ")
    assert "flow" not in errors
    skillbase.refresh_from_db()
    assert (skillbase.version, skillbase.versions.count(), skillbase.context["language"]) == (1, 1, "en-US")


def test_broken_json_is_reported_as_such(client, org, operator, minimal_config):
    client.force_login(operator)
    data = skillbase_form_data(org, minimal_config, flow='{"start": "greeting",')
    response = client.post(url(Skillbase, "add"), data)
    errors = response.context["adminform"].form.errors
    assert errors["flow"] == ["Not valid JSON at line 1, column 22: Expecting property name enclosed in double quotes."]
    assert set(errors) == {"flow"}
    assert not Skillbase.objects.exists()


def campaign_form_data(organization, skillbase, **extra) -> dict:
    return {
        "organization": organization.pk,
        "name": "Spring reminders",
        "skillbase": skillbase.pk,
        "dialer": "",
        "calls_per_minute": "10",
        "max_concurrent_calls": "5",
        "calling_days": ["1", "2", "3", "4", "5"],
        "calling_window_start": "09:00",
        "calling_window_end": "20:00",
        "default_timezone": "Europe/Moscow",
        "default_region": "RU",
        "max_attempts": "3",
        "retry_policy": "{}",
        "budget_cap": "",
        "failure_threshold": "0.5",
        "failure_window": "20",
        "caller_id": "",
        "sip_trunk_id": "",
        "simulator_personas": "{}",
        "simulator_seed": "0",
        # The read-only contact imports inline still posts its management form.
        "imports-TOTAL_FORMS": "0",
        "imports-INITIAL_FORMS": "0",
        **extra,
    }


def test_operator_creates_campaign_in_their_organization(client, org, operator, skillbase):
    client.force_login(operator)
    response = client.post(url(Campaign, "add"), campaign_form_data(org, skillbase))
    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign = Campaign.objects.get()
    assert (campaign.organization, campaign.skillbase, campaign.created_by) == (org, skillbase, operator)


def test_operator_cannot_create_campaign_in_another_organization(client, org, other_org, operator, skillbase, skillbase_factory):
    theirs = skillbase_factory(other_org, name="Theirs")
    client.force_login(operator)

    response = client.post(url(Campaign, "add"), campaign_form_data(other_org, theirs))
    assert response.status_code == 200
    assert {"organization", "skillbase"} <= set(response.context["adminform"].form.errors)

    response = client.post(url(Campaign, "add"), campaign_form_data(org, theirs))
    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"skillbase"}
    assert not Campaign.objects.exists()


def test_related_objects_must_belong_to_the_rows_organization(client, org, other_org, skillbase, skillbase_factory, member_factory):
    """A user who may write in both organizations still cannot mix them in one row."""
    both = member_factory(org, Role.OPERATOR, username="both")
    Membership.objects.create(organization=other_org, user=both, role=Role.OPERATOR)
    theirs = skillbase_factory(other_org, name="Theirs")
    client.force_login(both)

    response = client.post(url(Campaign, "add"), campaign_form_data(org, theirs))

    assert response.status_code == 200
    [message] = response.context["adminform"].form.errors["skillbase"]
    assert "another organization" in message
    assert not Campaign.objects.exists()


def test_task_takes_its_campaigns_organization_and_respects_do_not_call(client, org, other_org, operator, worlds):
    ours, theirs = worlds
    client.force_login(operator)
    data = {"phone": "+79990000077", "name": "Ann", "variables": "{}", "timezones": "[]", "next_attempt_at_0": "2030-01-01"}
    data |= {"next_attempt_at_1": "10:00", "calls-TOTAL_FORMS": "0", "calls-INITIAL_FORMS": "0"}

    assert client.post(url(CallTask, "add"), {**data, "campaign": theirs[Campaign].pk}).status_code == 200
    assert client.post(url(CallTask, "add"), {**data, "campaign": ours[Campaign].pk}).status_code == 302
    task = CallTask.objects.get(phone="+79990000077")
    assert task.organization_id == org.pk

    blocked = {**data, "campaign": ours[Campaign].pk, "phone": ours[DoNotCallEntry].phone}
    response = client.post(url(CallTask, "add"), blocked)
    assert "do-not-call" in response.context["adminform"].form.errors["phone"][0]


def test_do_not_call_entry_from_admin_cancels_pending_tasks(client, org, operator, worlds):
    task = worlds[0][CallTask]
    client.force_login(operator)
    response = client.post(url(DoNotCallEntry, "add"), {"organization": org.pk, "phone": task.phone, "reason": "Asked", "source": "manual"})
    assert response.status_code == 302
    entry = DoNotCallEntry.objects.get(organization=org, phone=task.phone)
    assert entry.created_by == operator
    task.refresh_from_db()
    assert task.status == CallTask.Status.CANCELLED


def test_operator_edit_writes_only_the_changed_columns(client, org, operator, worlds):
    """The dispatcher updates campaigns concurrently; a stale form must not overwrite it."""
    campaign = worlds[0][Campaign]
    client.force_login(operator)
    page = client.get(url(Campaign, "change", campaign.pk))
    Campaign.objects.filter(pk=campaign.pk).update(rate_tokens=7.5, status=Campaign.Status.RUNNING)
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update(campaign_form_data(org, campaign.skillbase, name="Renamed"))
    data.pop("organization")
    assert client.post(url(Campaign, "change", campaign.pk), data).status_code == 302
    campaign.refresh_from_db()
    assert (campaign.name, campaign.rate_tokens, campaign.status) == ("Renamed", 7.5, Campaign.Status.RUNNING)


def test_engine_written_rows_cannot_be_changed_even_by_a_superuser(client, superuser, worlds):
    client.force_login(superuser)
    for model in (SkillbaseVersion, Call, CallMetrics, CallLog):
        obj = worlds[0][model]
        assert client.post(url(model, "change", obj.pk), {}).status_code == 403
        assert client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
        assert model.objects.filter(pk=obj.pk).exists()


def test_deleting_a_skillbase_takes_its_versions_along(client, operator, skillbase):
    client.force_login(operator)
    page = client.get(url(Skillbase, "delete", skillbase.pk))
    assert not page.context["perms_lacking"]
    assert client.post(url(Skillbase, "delete", skillbase.pk), {"post": "yes"}).status_code == 302
    assert not Skillbase.objects.exists() and not SkillbaseVersion.objects.exists()


# Versions and rollback.


@pytest.fixture
def edited_skillbase(skillbase, minimal_config, operator):
    minimal_config["flow"]["steps"][1]["say"] = "Changed our mind."
    skillbase.flow = minimal_config["flow"]
    skillbase.save(author=operator, note="Edit")
    assert skillbase.version == 2
    return skillbase


def test_skillbase_page_shows_version_history(client, operator, edited_skillbase):
    client.force_login(operator)
    page = client.get(url(Skillbase, "change", edited_skillbase.pk))
    [history] = [f for f in page.context["inline_admin_formsets"] if f.opts.model is SkillbaseVersion]
    assert [form.instance.version for form in history.formset] == [2, 1]
    assert not history.has_add_permission and not history.has_change_permission


def test_rollback_action_creates_a_new_version_with_the_old_config(client, operator, edited_skillbase):
    first = edited_skillbase.versions.get(version=1)
    client.force_login(operator)
    response = client.post(url(SkillbaseVersion, "changelist"), {"action": "roll_back", "_selected_action": [first.pk]})
    assert response.status_code == 302
    edited_skillbase.refresh_from_db()
    latest = edited_skillbase.versions.first()
    assert (edited_skillbase.version, latest.version, latest.author) == (3, 3, operator)
    assert latest.config == first.config
    assert edited_skillbase.flow == first.config["flow"]
    assert "1" in latest.note


def test_rollback_button_on_the_version_page(client, operator, edited_skillbase):
    first = edited_skillbase.versions.get(version=1)
    client.force_login(operator)
    page = client.get(url(SkillbaseVersion, "change", first.pk))
    rollback_url = reverse("admin:skillbases_skillbaseversion_rollback", args=[first.pk])
    assert rollback_url in page.content.decode()
    assert client.get(rollback_url).status_code == 405
    response = client.post(rollback_url)
    assert response.status_code == 302 and response["Location"] == url(Skillbase, "change", edited_skillbase.pk)
    edited_skillbase.refresh_from_db()
    assert edited_skillbase.version == 3
    assert edited_skillbase.versions.first().config == first.config


def test_rollback_needs_operator_role_in_that_organization(client, viewer, outsider, edited_skillbase):
    first = edited_skillbase.versions.get(version=1)
    rollback_url = reverse("admin:skillbases_skillbaseversion_rollback", args=[first.pk])
    client.force_login(viewer)
    assert rollback_url not in client.get(url(SkillbaseVersion, "change", first.pk)).content.decode()
    assert client.post(rollback_url).status_code == 403
    client.post(url(SkillbaseVersion, "changelist"), {"action": "roll_back", "_selected_action": [first.pk]})
    client.force_login(outsider)
    assert client.post(rollback_url).status_code == 404
    edited_skillbase.refresh_from_db()
    assert edited_skillbase.version == 2


# Query counts: a changelist costs the same with one row as with five.


def changelist_queries(client, model) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url(model, "changelist"))
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("as_superuser", [True, False], ids=["superuser", "member"])
def test_changelist_query_count_does_not_grow_with_rows(client, superuser, viewer, org_admin, skillbase_factory, as_superuser):
    def add_worlds(start: int, stop: int):
        for i in range(start, stop):
            organization = Organization.objects.get(slug="acme") if not as_superuser else None
            organization = organization or Organization.objects.create(name=f"Org {i}", slug=f"org-{i}")
            world = make_world(organization, f"n{i}", skillbase_factory, digits=f"{i:04d}")
            # A call with several events, so inlines and counts have something to count.
            CallLog.objects.create(organization=organization, call=world[Call], campaign=world[Campaign], seq=2, kind="state")
            if as_superuser:
                Membership.objects.create(organization=organization, user=viewer, role=Role.VIEWER)

    user = superuser if as_superuser else org_admin
    client.force_login(user)
    add_worlds(0, 1)
    one = {model: changelist_queries(client, model) for model in PROJECT_MODELS}
    add_worlds(1, 5)
    five = {model: changelist_queries(client, model) for model in PROJECT_MODELS}
    assert five == one


def test_change_pages_with_inlines_have_bounded_queries(client, superuser, worlds):
    call = worlds[0][Call]
    for seq in range(2, 40):
        CallLog.objects.create(organization=call.organization, call=call, campaign=call.campaign, seq=seq, kind="state")
    client.force_login(superuser)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(url(Call, "change", call.pk))
    assert page.status_code == 200
    assert len(queries) < 25
    [events] = [f for f in page.context["inline_admin_formsets"] if f.opts.model is CallLog]
    assert len(list(events.formset)) == 39


def test_call_event_inline_is_bounded(client, superuser, worlds):
    call = worlds[0][Call]
    CallLog.objects.bulk_create(
        CallLog(organization=call.organization, call=call, campaign=call.campaign, seq=seq, kind="state") for seq in range(2, 260)
    )
    client.force_login(superuser)
    page = client.get(url(Call, "change", call.pk))
    [events] = [f for f in page.context["inline_admin_formsets"] if f.opts.model is CallLog]
    assert [form.instance.seq for form in events.formset] == list(range(1, 201))


def test_campaign_changelist_counts_tasks_by_state(client, superuser, worlds):
    campaign = worlds[0][Campaign]
    for i, status in enumerate(["pending", "pending", "completed", "failed", "in_progress"]):
        CallTask.objects.create(organization=campaign.organization, campaign=campaign, phone=f"+7999555000{i}", status=status)
    client.force_login(superuser)
    page = client.get(url(Campaign, "changelist"), {"q": campaign.name})
    [row] = page.context["cl"].result_list
    assert (row.pending_task_count, row.done_task_count) == (3, 2)


def test_skillbase_changelist_columns(client, superuser, worlds):
    client.force_login(superuser)
    page = client.get(url(Skillbase, "changelist"), {"q": "Ours"})
    [row] = page.context["cl"].result_list
    assert row.campaign_count == 1
    html = page.content.decode()
    for text in (
        '<td class="field-language">en-US</td>',
        '<td class="field-llm_provider">flow</td>',
        '<td class="field-step_count">3</td>',
    ):
        assert text in html
    assert client.get(url(Skillbase, "changelist"), {"llm_provider": "openai"}).context["cl"].result_count == 0


def test_filters_offer_only_the_members_organizations(client, viewer, worlds):
    client.force_login(viewer)
    html = client.get(url(CallTask, "changelist")).content.decode()
    assert "Campaign Ours" in html and "Campaign Theirs" not in html
    assert "Other Clinic" not in html


def test_single_organization_is_preselected_on_add(client, org, operator):
    client.force_login(operator)
    page = client.get(url(Skillbase, "add"))
    assert page.context["adminform"].form.initial["organization"] == org.pk
    choices = [c[0] for c in page.context["adminform"].form.fields["organization"].choices if c[0]]
    assert [c.value for c in choices] == [org.pk]


def test_call_timestamps_render(client, superuser, worlds):
    call = worlds[0][Call]
    Call.objects.filter(pk=call.pk).update(answered_at=call.ended_at - dt.timedelta(seconds=42))
    client.force_login(superuser)
    assert "0:00:42" in client.get(url(Call, "change", call.pk)).content.decode()


def test_viewer_reads_the_config_indented(client, viewer, skillbase):
    client.force_login(viewer)
    html = client.get(url(Skillbase, "change", skillbase.pk)).content.decode()
    assert "<textarea" not in html
    assert "change note" not in html.lower()
    assert '<pre style="white-space: pre-wrap; margin: 0">{\n  &quot;start&quot;: &quot;greeting&quot;' in html


def test_emptied_json_box_saves_an_empty_value_not_null(client, org, operator, skillbase):
    client.force_login(operator)
    data = campaign_form_data(org, skillbase, retry_policy="", simulator_personas="")
    assert client.post(url(Campaign, "add"), data).status_code == 302
    campaign = Campaign.objects.get()
    assert (campaign.retry_policy, campaign.simulator_personas) == ({}, {})
    data = campaign_form_data(org, skillbase, name="No days", calling_days="")
    assert "calling_days" in client.post(url(Campaign, "add"), data).context["adminform"].form.errors


def test_unknown_dialer_is_refused(client, org, operator, skillbase):
    client.force_login(operator)
    response = client.post(url(Campaign, "add"), campaign_form_data(org, skillbase, dialer="carrier-pigeon"))
    assert "dialer" in response.context["adminform"].form.errors
    assert client.post(url(Campaign, "add"), campaign_form_data(org, skillbase, dialer="simulator")).status_code == 302


def formset_data(formset) -> dict:
    data = {f"{formset.prefix}-{key}": value for key, value in formset.management_form.initial.items()}
    for form in formset.forms:
        data |= {form.add_prefix(name): form[name].value() for name in form.fields if form[name].value() is not None}
    return data


def test_organization_admin_changes_a_role_on_the_organization_page(client, org, viewer, org_admin):
    client.force_login(org_admin)
    page = client.get(url(Organization, "change", org.pk))
    members = page.context["inline_admin_formsets"][0].formset
    data = {"name": org.name, "timezone": org.timezone, **formset_data(members)}
    [index] = [i for i, form in enumerate(members.forms) if form.instance.user == viewer]
    data[f"{members.prefix}-{index}-role"] = Role.OPERATOR
    response = client.post(url(Organization, "change", org.pk), data)
    assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset.errors
    assert Membership.objects.get(user=viewer).role == Role.OPERATOR
    org.refresh_from_db()
    assert org.slug == "acme"


def test_operator_deletes_a_campaign_with_its_calls_and_events(client, operator, worlds):
    campaign = worlds[0][Campaign]
    client.force_login(operator)
    page = client.get(url(Campaign, "delete", campaign.pk))
    assert not page.context["perms_lacking"]
    assert client.post(url(Campaign, "delete", campaign.pk), {"post": "yes"}).status_code == 302
    assert not Campaign.objects.filter(pk=campaign.pk).exists()
    assert not Call.objects.filter(campaign_id=campaign.pk).exists()
    assert not CallLog.objects.filter(campaign_id=campaign.pk).exists()
    # Their organization's campaign is still there.
    assert Campaign.objects.filter(pk=worlds[1][Campaign].pk).exists()


def test_bulk_delete_refuses_rows_the_user_may_only_view(client, org, other_org, member_factory, worlds):
    """An operator here and a viewer there sees both organizations' tasks but deletes only here."""
    user = member_factory(org, Role.OPERATOR, username="mixed")
    Membership.objects.create(organization=other_org, user=user, role=Role.VIEWER)
    ours, theirs = worlds[0][CallTask], worlds[1][CallTask]
    client.force_login(user)
    data = {"action": "delete_selected", "_selected_action": [ours.pk, theirs.pk], "post": "yes"}
    assert client.post(url(CallTask, "changelist"), data).status_code == 403
    assert CallTask.objects.filter(pk__in=[ours.pk, theirs.pk]).count() == 2


def test_the_last_admin_can_be_neither_demoted_nor_deleted_in_the_admin(client, org, org_admin, member_factory):
    client.force_login(org_admin)
    mine = Membership.objects.get(user=org_admin)
    response = client.post(url(Membership, "change", mine.pk), {"organization": org.pk, "user": org_admin.username, "role": Role.VIEWER})
    assert response.status_code == 200 and "role" in response.context["adminform"].form.errors
    page = client.get(url(Membership, "delete", mine.pk))
    assert "keeps at least one admin" in page.content.decode()
    client.post(url(Membership, "delete", mine.pk), {"post": "yes"})
    assert Membership.objects.get(pk=mine.pk).role == Role.ADMIN
    # With a second admin, the first may step down.
    member_factory(org, Role.ADMIN, username="second-admin")
    response = client.post(url(Membership, "change", mine.pk), {"organization": org.pk, "user": org_admin.username, "role": Role.VIEWER})
    assert response.status_code == 302 and Membership.objects.get(pk=mine.pk).role == Role.VIEWER
