"""The audit log: every audited change, through the API, the admin and the commands, writes exactly
one entry with who, what, the changed fields before and after, and where from; the admin shows an
organization's entries to its admins only and never lets anyone edit or delete them."""

import copy
import datetime as dt
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db.models import Max
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from campaigns.actions import finish_call
from campaigns.models import Campaign, DoNotCallEntry, Outcome
from campaigns.tasks import place_call
from skillbases.models import Skillbase
from tenancy.models import ApiToken, AuditEntry, Invitation, Membership, Role
from tests.support.engine import T0, Dispatcher, make_campaign, started, use_scripted_dialer

Action, Source, Status = AuditEntry.Action, AuditEntry.Source, Campaign.Status


@pytest.fixture(autouse=True)
def scripted_line(settings):
    use_scripted_dialer(settings)


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def signed_in(client, user):
    client.force_login(user)
    return client


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


class Log:
    """The entries written since it was opened."""

    def __init__(self):
        self.mark = AuditEntry.objects.aggregate(last=Max("pk"))["last"] or 0

    def entries(self) -> list[AuditEntry]:
        return list(AuditEntry.objects.filter(pk__gt=self.mark).order_by("pk"))

    def one(self) -> AuditEntry:
        entries = self.entries()
        assert len(entries) == 1, [(e.action, e.object_repr) for e in entries]
        self.mark = entries[0].pk
        return entries[0]

    def nothing(self) -> None:
        assert self.entries() == []


def assert_entry(entry: AuditEntry, action, obj, *, actor, source, before=None, after=None, reason=None):
    assert (entry.action, entry.object_type, entry.object_id) == (action, obj._meta.label_lower, str(obj.pk))
    assert (entry.actor, entry.actor_name) == (actor, actor.username if actor else "")
    assert entry.source == source
    assert entry.ip == ("127.0.0.1" if source in (Source.ADMIN, Source.API) else None)
    if before is not None:
        assert entry.before == before
    if after is not None:
        assert entry.after == after
    if reason is not None:
        assert entry.reason == reason


# Skillbases: the version numbers and the sections that changed.


def test_skillbase_created_changed_and_rolled_back_through_the_api(org, operator, minimal_config):
    log = Log()
    response = api(operator).post("/api/skillbases", {"organization": org.pk, "name": "Welcome", **minimal_config}, format="json")
    assert response.status_code == 201, response.content
    skillbase = Skillbase.objects.get(name="Welcome")
    entry = log.one()
    assert_entry(entry, Action.SKILLBASE_CREATED, skillbase, actor=operator, source=Source.API, before={})
    assert entry.organization == org and entry.object_repr == "Welcome"
    assert entry.after["version"] == 1 and set(entry.after) == {"version", "context", "flow", "voice", "llm"}

    old_flow = copy.deepcopy(skillbase.flow)
    flow = copy.deepcopy(skillbase.flow)
    flow["steps"][1]["say"] = "Wonderful, see you then."
    response = api(operator).patch(f"/api/skillbases/{skillbase.pk}", {"flow": flow, "note": "Warmer"}, format="json")
    assert response.status_code == 200, response.content
    skillbase.refresh_from_db()
    assert_entry(
        log.one(),
        Action.SKILLBASE_CHANGED,
        skillbase,
        actor=operator,
        source=Source.API,
        before={"version": 1, "flow": old_flow},
        after={"version": 2, "flow": skillbase.flow},
        reason="Warmer",
    )

    assert api(operator).patch(f"/api/skillbases/{skillbase.pk}", {"name": "Renamed"}, format="json").status_code == 200
    log.nothing()  # no new version, nothing audited

    response = api(operator).post(f"/api/skillbases/{skillbase.pk}/rollback", {"version": 1}, format="json")
    assert response.status_code in (200, 201), response.content
    entry = log.one()
    assert_entry(entry, Action.SKILLBASE_CHANGED, skillbase, actor=operator, source=Source.API, reason="Rollback to version 1")
    assert entry.before == {"version": 2, "flow": skillbase.flow} and entry.after == {"version": 3, "flow": old_flow}


def skillbase_form(org, config, *, name, note="") -> dict:
    return {
        "organization": org.pk,
        "name": name,
        "description": "",
        "change_note": note,
        **{section: json.dumps(config.get(section, {})) for section in ("context", "flow", "voice", "llm")},
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        "tests-TOTAL_FORMS": "0",
        "tests-INITIAL_FORMS": "0",
    }


def test_skillbase_added_edited_and_rolled_back_in_the_admin(client, org, operator, minimal_config):
    signed_in(client, operator)
    log = Log()
    response = client.post(admin_url(Skillbase, "add"), skillbase_form(org, minimal_config, name="Welcome", note="First draft"))
    assert response.status_code == 302
    skillbase = Skillbase.objects.get(name="Welcome")
    assert_entry(log.one(), Action.SKILLBASE_CREATED, skillbase, actor=operator, source=Source.ADMIN, reason="First draft")

    minimal_config["context"]["goal"] = "move the appointment"
    response = client.post(
        admin_url(Skillbase, "change", skillbase.pk), skillbase_form(org, minimal_config, name="Welcome", note="New goal")
    )
    assert response.status_code == 302
    entry = log.one()
    assert_entry(entry, Action.SKILLBASE_CHANGED, skillbase, actor=operator, source=Source.ADMIN, reason="New goal")
    assert set(entry.before) == set(entry.after) == {"version", "context"}
    assert (entry.before["context"]["goal"], entry.after["context"]["goal"]) == ("confirm the appointment", "move the appointment")

    first = skillbase.versions.get(version=1)
    assert client.post(reverse("admin:skillbases_skillbaseversion_rollback", args=[first.pk])).status_code == 302
    entry = log.one()
    assert_entry(entry, Action.SKILLBASE_CHANGED, skillbase, actor=operator, source=Source.ADMIN, reason="Rollback to version 1")
    assert entry.after["version"] == 3


# Campaigns: each transition, with its status before and after.


@pytest.fixture
def ready(org, skillbase):
    return make_campaign(org, skillbase, contacts=2)


def test_campaign_start_pause_resume_cancel_through_the_api(ready, operator):
    log = Log()
    expected = [
        ("start", Action.CAMPAIGN_STARTED, "draft", "running"),
        ("pause", Action.CAMPAIGN_PAUSED, "running", "paused"),
        ("resume", Action.CAMPAIGN_RESUMED, "paused", "running"),
        ("cancel", Action.CAMPAIGN_CANCELLED, "running", "cancelled"),
    ]
    for verb, action, was, now in expected:
        assert api(operator).post(f"/api/campaigns/{ready.pk}/{verb}").status_code == 200
        entry = log.one()
        assert_entry(entry, action, ready, actor=operator, source=Source.API)
        assert (entry.before["status"], entry.after["status"]) == (was, now)
        ready.refresh_from_db()
        assert entry.reason == ready.status_reason
    # A refused transition changes nothing and logs nothing.
    assert api(operator).post(f"/api/campaigns/{ready.pk}/pause").status_code == 409
    log.nothing()


def test_campaign_start_records_only_the_changed_fields(ready, operator):
    log = Log()
    assert api(operator).post(f"/api/campaigns/{ready.pk}/start").status_code == 200
    entry = log.one()
    ready.refresh_from_db()
    assert entry.before == {"status": "draft", "started_at": None}
    assert set(entry.after) == {"status", "started_at"} and entry.after["status"] == "running"
    # JSON keeps times to the millisecond.
    assert abs(parse_datetime(entry.after["started_at"]) - ready.started_at) < dt.timedelta(milliseconds=1)


def test_campaign_controls_in_the_admin(client, ready, operator):
    signed_in(client, operator)
    log = Log()
    for verb, action in (("start", Action.CAMPAIGN_STARTED), ("pause", Action.CAMPAIGN_PAUSED), ("cancel", Action.CAMPAIGN_CANCELLED)):
        response = client.post(reverse("admin:campaigns_campaign_control", args=[ready.pk, verb]))
        assert response.status_code == 302
        assert_entry(log.one(), action, ready, actor=operator, source=Source.ADMIN)


def test_campaign_admin_action_on_several_campaigns_logs_each(client, org, skillbase, operator):
    campaigns = [make_campaign(org, skillbase, contacts=1, name=f"Spring {i}") for i in range(2)]
    signed_in(client, operator)
    log = Log()
    data = {"action": "start_campaigns", "_selected_action": [c.pk for c in campaigns]}
    assert client.post(admin_url(Campaign, "changelist"), data).status_code == 302
    entries = log.entries()
    assert sorted(e.object_id for e in entries) == sorted(str(c.pk) for c in campaigns)
    assert {(e.action, e.actor, e.source) for e in entries} == {(Action.CAMPAIGN_STARTED, operator, Source.ADMIN)}


def test_campaign_command_is_logged_as_a_command(ready):
    log = Log()
    call_command("campaign", "start", str(ready.pk), stdout=open("/dev/null", "w"))
    assert_entry(log.one(), Action.CAMPAIGN_STARTED, ready, actor=None, source=Source.COMMAND)
    call_command("campaign", "status", str(ready.pk), stdout=open("/dev/null", "w"))
    log.nothing()


def test_an_automatic_pause_is_the_systems(org, skillbase, django_capture_on_commit_callbacks):
    campaign = started(make_campaign(org, skillbase, contacts=3, budget_cap="5", variables={"line": "answer"}))
    Campaign.objects.filter(pk=campaign.pk).update(spent="5")
    log = Log()
    Dispatcher(django_capture_on_commit_callbacks)(T0)
    entry = log.one()
    assert_entry(entry, Action.CAMPAIGN_PAUSED, campaign, actor=None, source=Source.SYSTEM)
    assert entry.reason.startswith("Paused automatically: the budget")


def test_completion_and_a_callees_opt_out_are_the_systems(org, skillbase, django_capture_on_commit_callbacks):
    campaign = started(make_campaign(org, skillbase, contacts=1, variables={"line": "answer"}))
    [call_id] = Dispatcher(django_capture_on_commit_callbacks)(T0)
    place_call(call_id)
    log = Log()
    finish_call(call_id, outcome=Outcome.OPTED_OUT)
    added, completed = log.entries()
    entry = DoNotCallEntry.objects.get()
    assert_entry(added, Action.DNC_ADDED, entry, actor=None, source=Source.SYSTEM)
    assert added.after["source"] == DoNotCallEntry.Source.OPT_OUT
    assert_entry(completed, Action.CAMPAIGN_COMPLETED, campaign, actor=None, source=Source.SYSTEM)


# Do-not-call list.


def test_do_not_call_added_and_removed_through_the_api(org, operator, ready):
    log = Log()
    response = api(operator).post("/api/dnc", {"organization": org.pk, "phone": "+79160000000", "reason": "Asked"}, format="json")
    assert response.status_code == 201, response.content
    entry = DoNotCallEntry.objects.get()
    assert_entry(
        log.one(),
        Action.DNC_ADDED,
        entry,
        actor=operator,
        source=Source.API,
        before={},
        after={"phone": "+79160000000", "reason": "Asked", "source": "api", "cancelled_tasks": 1},
        reason="Asked",
    )
    assert api(operator).delete(f"/api/dnc/{entry.pk}").status_code == 204
    assert_entry(
        log.one(),
        Action.DNC_REMOVED,
        entry,
        actor=operator,
        source=Source.API,
        before={"phone": "+79160000000", "reason": "Asked", "source": "api"},
        after={},
    )
    assert not DoNotCallEntry.objects.exists()


def test_do_not_call_added_changed_and_removed_in_the_admin(client, org, operator):
    signed_in(client, operator)
    log = Log()
    data = {"organization": org.pk, "phone": "+79160000001", "reason": "Asked", "source": DoNotCallEntry.Source.MANUAL}
    assert client.post(admin_url(DoNotCallEntry, "add"), data).status_code == 302
    entry = DoNotCallEntry.objects.get()
    assert_entry(log.one(), Action.DNC_ADDED, entry, actor=operator, source=Source.ADMIN)

    response = client.post(admin_url(DoNotCallEntry, "change", entry.pk), {**data, "reason": "Asked twice"})
    assert response.status_code == 302
    assert_entry(
        log.one(),
        Action.DNC_CHANGED,
        entry,
        actor=operator,
        source=Source.ADMIN,
        before={"reason": "Asked"},
        after={"reason": "Asked twice"},
    )

    assert client.post(admin_url(DoNotCallEntry, "delete", entry.pk), {"post": "yes"}).status_code == 302
    assert_entry(
        log.one(),
        Action.DNC_REMOVED,
        entry,
        actor=operator,
        source=Source.ADMIN,
        before={"phone": "+79160000001", "reason": "Asked twice", "source": "manual"},
    )


def test_do_not_call_bulk_delete_and_file_import_in_the_admin(client, org, operator):
    signed_in(client, operator)
    entries = [DoNotCallEntry.objects.create(organization=org, phone=f"+7916000000{i}") for i in range(2)]
    log = Log()
    data = {"action": "delete_selected", "_selected_action": [e.pk for e in entries], "post": "yes"}
    assert client.post(admin_url(DoNotCallEntry, "changelist"), data).status_code == 302
    removed = log.entries()
    assert sorted((e.action, e.object_id, e.actor.pk) for e in removed) == [(Action.DNC_REMOVED, str(e.pk), operator.pk) for e in entries]
    log.mark = removed[-1].pk

    upload = SimpleUploadedFile("blocked.csv", b"phone,reason\n+79161112233,Asked\n+79161112244,\n", content_type="text/csv")
    response = client.post(reverse("admin:campaigns_donotcallentry_import"), {"organization": org.pk, "file": upload, "region": "RU"})
    assert response.status_code == 200
    entry = log.one()
    assert (entry.action, entry.actor, entry.source, entry.organization) == (Action.DNC_IMPORTED, operator, Source.ADMIN, org)
    assert entry.after == {"added": 2, "already_listed": 0, "cancelled_tasks": 0} and entry.object_repr == "blocked.csv"


def test_an_already_listed_number_adds_nothing_to_the_log(org, operator):
    DoNotCallEntry.objects.create(organization=org, phone="+79160000000")
    log = Log()
    api(operator).post("/api/dnc", {"organization": org.pk, "phone": "+79160000000"}, format="json")
    log.nothing()


# API tokens: never their secret.


def assert_no_secret(secret: str, token: ApiToken) -> None:
    everything = json.dumps(list(AuditEntry.objects.values()), default=str)
    assert secret not in everything
    assert token.digest not in everything and token.digest_prefix not in everything
    assert token.token_key not in everything


def test_token_issued_and_revoked_through_the_api(operator, org_admin):
    log = Log()
    response = api(operator).post("/api/tokens", {"name": "CRM sync", "expires_in_days": 7}, format="json")
    assert response.status_code == 201
    secret = response.json()["token"]
    token = ApiToken.objects.get()
    entry = log.one()
    assert_entry(entry, Action.TOKEN_ISSUED, token, actor=operator, source=Source.API, before={})
    assert (entry.organization, entry.subject_user, entry.object_repr) == (None, operator, "CRM sync (acme-operator)")
    assert set(entry.after) == {"user", "name", "expiry"} and entry.after["user"] == "acme-operator"

    # An organization's admin revokes a member's token.
    assert api(org_admin).delete(f"/api/tokens/{token.pk}").status_code == 204
    entry = log.one()
    assert_entry(entry, Action.TOKEN_REVOKED, token, actor=org_admin, source=Source.API, after={})
    assert entry.subject_user == operator and entry.before["name"] == "CRM sync"
    assert_no_secret(secret, token)


def test_token_issued_and_revoked_in_the_admin(client, org_admin, operator):
    signed_in(client, org_admin)
    log = Log()
    response = client.post(admin_url(ApiToken, "add"), {"user": operator.username, "name": "", "expires_in_days": 30})
    assert response.status_code == 200
    secret = response.context["secret"]
    token = ApiToken.objects.get()
    entry = log.one()
    assert_entry(entry, Action.TOKEN_ISSUED, token, actor=org_admin, source=Source.ADMIN)
    assert entry.subject_user == operator and entry.object_repr == f"#{token.pk} (acme-operator)"

    assert client.post(admin_url(ApiToken, "delete", token.pk), {"post": "yes"}).status_code == 302
    assert_entry(log.one(), Action.TOKEN_REVOKED, token, actor=org_admin, source=Source.ADMIN)
    assert not ApiToken.objects.exists()
    # Neither the log's pages show the secret or the digest.
    client.get(admin_url(AuditEntry, "changelist"))  # shows, and so drops, the token admin's own messages
    for entry in AuditEntry.objects.filter(action__startswith="token"):
        page = client.get(admin_url(AuditEntry, "change", entry.pk)).content.decode()
        assert secret not in page and token.digest_prefix not in page
    assert_no_secret(secret, token)


def test_tokens_revoked_in_bulk_in_the_admin(client, operator):
    tokens = [ApiToken.objects.issue(operator, name=f"T{i}")[0] for i in range(2)]
    signed_in(client, operator)
    log = Log()
    data = {"action": "delete_selected", "_selected_action": [t.pk for t in tokens], "post": "yes"}
    assert client.post(admin_url(ApiToken, "changelist"), data).status_code == 302
    assert sorted((e.action, e.object_id) for e in log.entries()) == sorted((Action.TOKEN_REVOKED, str(t.pk)) for t in tokens)


# Members.


def test_member_added_role_changed_and_removed_through_the_api(org, org_admin, django_user_model):
    newcomer = django_user_model.objects.create_user(username="newcomer", password="x")
    log = Log()
    response = api(org_admin).post(f"/api/organizations/{org.pk}/members", {"username": "newcomer", "role": "viewer"}, format="json")
    assert response.status_code == 202, response.content
    invitation = Invitation.objects.get(pk=response.json()["invitation"])
    entry = log.one()
    assert_entry(entry, Action.MEMBER_INVITED, invitation, actor=org_admin, source=Source.API, before={})
    assert (entry.after["username"], entry.after["role"]) == ("newcomer", "viewer")
    assert (entry.organization, entry.subject_user) == (org, None)  # the log tells no more than the answer
    # The member is added when they accept.
    assert api(newcomer).post(f"/api/invitations/{invitation.pk}/accept").status_code == 200
    member = Membership.objects.get(user=newcomer)
    accepted, added = log.entries()
    log.mark = added.pk
    assert_entry(added, Action.MEMBER_ADDED, member, actor=newcomer, source=Source.API, after={"user": "newcomer", "role": "viewer"})
    assert (added.organization, added.subject_user) == (org, newcomer)
    assert_entry(accepted, Action.INVITATION_ACCEPTED, invitation, actor=newcomer, source=Source.API, before={"status": "pending"})
    assert (accepted.organization, accepted.subject_user, accepted.after["status"]) == (org, newcomer, "accepted")

    response = api(org_admin).patch(f"/api/organizations/{org.pk}/members/{member.pk}", {"role": "operator"}, format="json")
    assert response.status_code == 200
    assert_entry(
        log.one(),
        Action.MEMBER_ROLE_CHANGED,
        member,
        actor=org_admin,
        source=Source.API,
        before={"role": "viewer"},
        after={"role": "operator"},
    )
    # The same role again is no change.
    api(org_admin).patch(f"/api/organizations/{org.pk}/members/{member.pk}", {"role": "operator"}, format="json")
    log.nothing()

    assert api(org_admin).delete(f"/api/organizations/{org.pk}/members/{member.pk}").status_code == 204
    assert_entry(
        log.one(), Action.MEMBER_REMOVED, member, actor=org_admin, source=Source.API, before={"user": "newcomer", "role": "operator"}
    )
    # Refused: the last admin stays, and nothing is logged.
    mine = Membership.objects.get(user=org_admin)
    assert api(org_admin).delete(f"/api/organizations/{org.pk}/members/{mine.pk}").status_code == 409
    log.nothing()


def test_member_added_role_changed_and_removed_in_the_admin(client, org, org_admin, superuser, django_user_model):
    django_user_model.objects.create_user(username="newcomer", password="x", is_staff=True)
    # Only a superuser adds an account directly; an organization's admins invite it.
    signed_in(client, superuser)
    log = Log()
    data = {"organization": org.pk, "user": "newcomer", "role": Role.VIEWER}
    assert client.post(admin_url(Membership, "add"), data).status_code == 302
    member = Membership.objects.get(user__username="newcomer")
    assert_entry(log.one(), Action.MEMBER_ADDED, member, actor=superuser, source=Source.ADMIN)
    signed_in(client, org_admin)

    response = client.post(admin_url(Membership, "change", member.pk), {**data, "role": Role.OPERATOR})
    assert response.status_code == 302
    assert_entry(
        log.one(),
        Action.MEMBER_ROLE_CHANGED,
        member,
        actor=org_admin,
        source=Source.ADMIN,
        before={"role": "viewer"},
        after={"role": "operator"},
    )
    member.refresh_from_db()
    assert member.role == Role.OPERATOR

    assert client.post(admin_url(Membership, "delete", member.pk), {"post": "yes"}).status_code == 302
    assert_entry(log.one(), Action.MEMBER_REMOVED, member, actor=org_admin, source=Source.ADMIN)
    assert not Membership.objects.filter(pk=member.pk).exists()


def inline_data(formset) -> dict:
    data = {f"{formset.prefix}-{key}": value for key, value in formset.management_form.initial.items()}
    for form in formset.forms:
        data |= {form.add_prefix(name): form[name].value() for name in form.fields if form[name].value() is not None}
    return data


def test_members_changed_on_the_organization_page(client, org, viewer, operator, org_admin, django_user_model):
    django_user_model.objects.create_user(username="newcomer", password="x")
    signed_in(client, org_admin)
    members = client.get(admin_url(type(org), "change", org.pk)).context["inline_admin_formsets"][0].formset
    data = {"name": org.name, "timezone": org.timezone, **inline_data(members)}
    row = {form.instance.user: index for index, form in enumerate(members.forms)}
    prefix, total = members.prefix, len(members.forms)
    data[f"{prefix}-{row[viewer]}-role"] = Role.ADMIN
    data[f"{prefix}-{row[operator]}-DELETE"] = "on"
    # A row added by hand is ignored: an organization's admins invite (tests/test_invitations.py).
    data |= {f"{prefix}-{total}-user": "newcomer", f"{prefix}-{total}-role": Role.VIEWER, f"{prefix}-TOTAL_FORMS": str(total + 1)}
    log = Log()
    response = client.post(admin_url(type(org), "change", org.pk), data)
    assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset.errors
    entries = log.entries()
    assert sorted((e.action, e.subject_user.username) for e in entries) == [
        (Action.MEMBER_REMOVED, operator.username),
        (Action.MEMBER_ROLE_CHANGED, viewer.username),
    ]
    assert {(e.actor, e.source, e.organization) for e in entries} == {(org_admin, Source.ADMIN, org)}
    assert Membership.objects.get(user=viewer).role == Role.ADMIN
    assert not Membership.objects.filter(user__username="newcomer").exists()


# The log in the admin: an organization's admins read its entries, nobody writes.


@pytest.fixture
def both_logs(org, other_org, skillbase_factory, operator, outsider):
    skillbase_factory(org, name="Ours")
    skillbase_factory(other_org, name="Theirs")
    _token, _secret = ApiToken.objects.issue(operator, name="Our token", issued_by=operator)
    _token, _secret = ApiToken.objects.issue(outsider, name="Their token", issued_by=outsider)
    by_repr = {e.object_repr: e for e in AuditEntry.objects.all()}
    return {
        "ours": by_repr["Ours"],
        "theirs": by_repr["Theirs"],
        "our token": by_repr["Our token (acme-operator)"],
        "their token": by_repr["Their token (other-operator)"],
    }


def test_an_organizations_admin_sees_its_entries_only(client, org_admin, both_logs):
    signed_in(client, org_admin)
    page = client.get(admin_url(AuditEntry, "changelist"))
    assert page.status_code == 200
    assert set(page.context["cl"].result_list) == {both_logs["ours"], both_logs["our token"]}
    html = page.content.decode()
    assert "Theirs" not in html and "Their token" not in html
    assert client.get(admin_url(AuditEntry, "change", both_logs["ours"].pk)).status_code == 200
    for name in ("theirs", "their token"):
        assert client.get(admin_url(AuditEntry, "change", both_logs[name].pk)).status_code == 404
    # Filters and search work within the same scope.
    page = client.get(admin_url(AuditEntry, "changelist"), {"action__exact": Action.SKILLBASE_CREATED, "q": "Our"})
    assert list(page.context["cl"].result_list) == [both_logs["ours"]]


def test_members_below_admin_do_not_see_the_log(client, viewer, operator, both_logs):
    for user in (viewer, operator):
        signed_in(client, user)
        assert client.get(admin_url(AuditEntry, "changelist")).status_code == 403
        assert client.get(admin_url(AuditEntry, "change", both_logs["ours"].pk)).status_code in (403, 404)


def test_a_superuser_sees_every_entry(client, superuser, both_logs):
    signed_in(client, superuser)
    page = client.get(admin_url(AuditEntry, "changelist"))
    assert set(both_logs.values()) <= set(page.context["cl"].result_list)


def test_nobody_edits_or_deletes_an_entry(client, superuser, org_admin, both_logs):
    entry = both_logs["ours"]
    for user in (superuser, org_admin):
        signed_in(client, user)
        assert client.get(admin_url(AuditEntry, "add")).status_code == 403
        page = client.get(admin_url(AuditEntry, "change", entry.pk))
        assert page.status_code == 200 and not page.context["has_change_permission"] and not page.context["has_delete_permission"]
        assert client.post(admin_url(AuditEntry, "change", entry.pk), {"reason": "Tampered"}).status_code == 403
        assert client.post(admin_url(AuditEntry, "delete", entry.pk), {"post": "yes"}).status_code == 403
        changelist = client.get(admin_url(AuditEntry, "changelist"))
        assert changelist.context["action_form"] is None  # no actions at all, so no "delete selected"
        data = {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
        client.post(admin_url(AuditEntry, "changelist"), data)
    entry.refresh_from_db()
    assert entry.reason == "" and AuditEntry.objects.filter(pk=entry.pk).exists()


def test_an_entry_cannot_be_saved_again(both_logs):
    entry = both_logs["ours"]
    entry.reason = "Tampered"
    with pytest.raises(ValueError):
        entry.save()
