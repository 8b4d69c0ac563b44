"""Invitations: an organization's admin invites a username, the account with it accepts or declines.
Nothing an admin sees, in the API or the admin, tells whether an account has the username."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from tenancy.models import AuditEntry, Invitation, Membership, ReceivedInvitation, Role

Action = AuditEntry.Action


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def invite(admin, organization, username: str, role: str = Role.VIEWER):
    return api(admin).post(f"/api/organizations/{organization.pk}/members", {"username": username, "role": role}, format="json")


def invitations_url(organization, invitation=None) -> str:
    base = f"/api/organizations/{organization.pk}/invitations"
    return base if invitation is None else f"{base}/{invitation.pk}"


def invited(admin, organization, username: str, role: str = Role.VIEWER) -> Invitation:
    response = invite(admin, organization, username, role)
    assert response.status_code == 202, response.content
    return Invitation.objects.get(pk=response.json()["invitation"])


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def newcomer(django_user_model):
    return django_user_model.objects.create_user(username="newcomer", password="pw-for-tests-only", is_staff=True)


# Inviting: one answer for every username.


def test_the_answer_is_the_same_whoever_has_the_username(org, org_admin, operator, newcomer, django_user_model):
    django_user_model.objects.create_user(username="gone", is_active=False)
    usernames = ["newcomer", "nobody-by-that-name", operator.username, "gone", org_admin.username]
    responses = {username: invite(org_admin, org, username) for username in usernames}
    bodies = set()
    for response in responses.values():
        assert response.status_code == 202
        invitation = response.json()["invitation"]
        assert set(response.json()) == {"detail", "invitation"}
        bodies.add(response.content.replace(str(invitation).encode(), b"<id>"))
    assert bodies == {b'{"detail":"If an account with this username exists, it has been invited.","invitation":<id>}'}
    assert {i.username for i in Invitation.objects.all()} == set(usernames)
    # Inviting adds nobody: the newcomer, already a member or not, has to accept.
    assert set(Membership.objects.filter(organization=org).values_list("user__username", flat=True)) == {"acme-admin", "acme-operator"}


def test_inviting_again_refreshes_the_pending_invitation(org, org_admin):
    first = invited(org_admin, org, "Newcomer", Role.VIEWER)
    Invitation.objects.filter(pk=first.pk).update(expires_at=timezone.now() + dt.timedelta(hours=1))
    again = invited(org_admin, org, "newcomer", Role.OPERATOR)
    assert again.pk == first.pk and Invitation.objects.count() == 1
    assert (again.role, again.username) == (Role.OPERATOR, "newcomer")
    assert again.expires_at > timezone.now() + dt.timedelta(days=13)


def test_the_invitation_expires_after_the_configured_days(org, org_admin, settings):
    settings.NEWVOICE_INVITATION_DAYS = 3
    invitation = invited(org_admin, org, "newcomer")
    assert abs(invitation.expires_at - invitation.created_at - dt.timedelta(days=3)) < dt.timedelta(seconds=5)


def test_inviting_is_audited_without_telling_whether_the_account_exists(org, org_admin, newcomer):
    for username in ("newcomer", "nobody-by-that-name"):
        invitation = invited(org_admin, org, username)
        entry = AuditEntry.objects.get(action=Action.MEMBER_INVITED, object_id=str(invitation.pk))
        assert (entry.actor, entry.organization, entry.subject_user, entry.source) == (org_admin, org, None, AuditEntry.Source.API)
        assert (entry.after["username"], entry.after["role"]) == (username, Role.VIEWER)


# An organization's admins list and revoke its invitations.


def test_admins_list_pending_invitations_alike_for_any_username(org, org_admin, newcomer, django_assert_max_num_queries):
    invited(org_admin, org, "nobody-by-that-name")
    invited(org_admin, org, "newcomer", Role.OPERATOR)
    with django_assert_max_num_queries(6) as counted:
        response = api(org_admin).get(invitations_url(org))
    queries = len(counted.captured_queries)
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [(row["username"], row["role"], row["status"]) for row in rows] == [
        ("newcomer", "operator", "pending"),
        ("nobody-by-that-name", "viewer", "pending"),
    ]
    assert set(rows[0]) == set(rows[1]) == {
        "id", "organization", "organization_name", "username", "role", "status", "invited_by", "created_at", "expires_at",
        "answered_at",
    }  # fmt: skip
    assert rows[0]["invited_by"] == rows[1]["invited_by"] == org_admin.username
    for number in range(5):
        invited(org_admin, org, f"more-{number}")
    with django_assert_max_num_queries(queries):
        assert api(org_admin).get(invitations_url(org)).json()["count"] == 7


def test_admin_revokes_an_invitation(org, org_admin, newcomer):
    invitation = invited(org_admin, org, "newcomer")
    assert api(org_admin).delete(invitations_url(org, invitation)).status_code == 204
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.REVOKED and invitation.answered_at is not None
    assert api(org_admin).get(invitations_url(org)).json()["count"] == 0
    assert api(org_admin).delete(invitations_url(org, invitation)).status_code == 404
    entry = AuditEntry.objects.get(action=Action.INVITATION_REVOKED)
    assert (entry.actor, entry.object_id, entry.subject_user) == (org_admin, str(invitation.pk), None)
    # The invitee can no longer accept it.
    response = api(newcomer).post(f"/api/invitations/{invitation.pk}/accept")
    assert response.status_code == 409
    assert response.json() == {"detail": "This invitation has been revoked."}
    assert not Membership.objects.filter(user=newcomer).exists()


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.VIEWER])
def test_members_below_admin_neither_invite_nor_see_invitations(org, org_admin, member_factory, role):
    invitation = invited(org_admin, org, "newcomer")
    member = member_factory(org, role)
    assert invite(member, org, "someone-else").status_code == 403
    response = api(member).get(invitations_url(org))
    assert response.status_code == 403
    assert response.json() == {"detail": "Only an admin of this organization may manage its invitations."}
    assert api(member).get(invitations_url(org, invitation)).status_code == 403
    assert api(member).delete(invitations_url(org, invitation)).status_code == 403
    assert Invitation.objects.get().status == Invitation.Status.PENDING


def test_another_organizations_admin_cannot_touch_its_invitations(org, other_org, org_admin, member_factory):
    ours = invited(org_admin, org, "newcomer")
    their_admin = member_factory(other_org, Role.ADMIN, "their-admin")
    theirs = invited(their_admin, other_org, "someone")
    client = api(their_admin)
    assert client.get(invitations_url(org)).status_code == 404
    assert client.get(invitations_url(org, ours)).status_code == 404
    assert client.delete(invitations_url(org, ours)).status_code == 404
    assert invite(their_admin, org, "newcomer").status_code == 404
    # Nor under their own organization's address.
    assert client.get(invitations_url(other_org, ours)).status_code == 404
    assert client.delete(invitations_url(other_org, ours)).status_code == 404
    assert [row["username"] for row in client.get(invitations_url(other_org)).json()["results"]] == ["someone"]
    assert Invitation.objects.filter(status=Invitation.Status.PENDING).count() == 2 and theirs.organization == other_org


# The invitee answers.


def test_the_invitee_lists_their_open_invitations(org, other_org, org_admin, member_factory, newcomer):
    mine = invited(org_admin, org, "NewComer", Role.OPERATOR)  # the case typed does not matter
    their_admin = member_factory(other_org, Role.ADMIN, "their-admin")
    expired = invited(their_admin, other_org, "newcomer")
    Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    invited(org_admin, org, "someone-else")
    response = api(newcomer).get("/api/invitations")
    assert response.status_code == 200
    assert [(row["id"], row["organization_name"], row["role"]) for row in response.json()["results"]] == [
        (mine.pk, "Acme Salon", "operator")
    ]
    assert api(newcomer).get(f"/api/invitations/{mine.pk}").json()["invited_by"] == org_admin.username


def test_the_invitee_accepts_and_joins_with_the_role(org, org_admin, newcomer):
    invitation = invited(org_admin, org, "newcomer", Role.OPERATOR)
    response = api(newcomer).post(f"/api/invitations/{invitation.pk}/accept")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "accepted" and response.json()["answered_at"]
    assert Membership.objects.get(user=newcomer).organization == org
    assert Membership.objects.get(user=newcomer).role == Role.OPERATOR
    entries = AuditEntry.objects.filter(actor=newcomer).order_by("pk")
    assert [(e.action, e.organization, e.subject_user) for e in entries] == [
        (Action.INVITATION_ACCEPTED, org, newcomer),
        (Action.MEMBER_ADDED, org, newcomer),
    ]
    # Once answered, it is no longer open.
    assert api(newcomer).get("/api/invitations").json()["count"] == 0
    assert api(org_admin).get(invitations_url(org)).json()["count"] == 0
    response = api(newcomer).post(f"/api/invitations/{invitation.pk}/accept")
    assert response.status_code == 409
    assert response.json() == {"detail": "This invitation has already been answered."}


def test_the_invitee_declines(org, org_admin, newcomer):
    invitation = invited(org_admin, org, "newcomer")
    response = api(newcomer).post(f"/api/invitations/{invitation.pk}/decline")
    assert response.status_code == 200 and response.json()["status"] == "declined"
    assert not Membership.objects.filter(user=newcomer).exists()
    entry = AuditEntry.objects.get(action=Action.INVITATION_DECLINED)
    assert (entry.actor, entry.organization, entry.object_id) == (newcomer, org, str(invitation.pk))
    assert api(newcomer).post(f"/api/invitations/{invitation.pk}/accept").status_code == 409


def test_someone_elses_invitation_is_not_found(org, org_admin, operator, newcomer):
    invitation = invited(org_admin, org, "newcomer")
    missing = api(operator).get("/api/invitations/987654")
    assert missing.status_code == 404
    for user in (operator, org_admin):  # not even the admin who sent it
        client = api(user)
        assert client.get("/api/invitations").json()["count"] == 0
        response = client.get(f"/api/invitations/{invitation.pk}")
        assert (response.status_code, response.json()) == (404, missing.json())
        for answer in ("accept", "decline"):
            response = client.post(f"/api/invitations/{invitation.pk}/{answer}")
            assert (response.status_code, response.json()) == (404, missing.json())
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.PENDING
    assert not Membership.objects.filter(user=newcomer).exists()


def test_an_expired_invitation_cannot_be_answered(org, org_admin, newcomer):
    invitation = invited(org_admin, org, "newcomer")
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    for answer in ("accept", "decline"):
        response = api(newcomer).post(f"/api/invitations/{invitation.pk}/{answer}")
        assert response.status_code == 409
        assert response.json() == {"detail": "This invitation has expired: ask an admin of the organization to invite you again."}
    assert not Membership.objects.filter(user=newcomer).exists()
    # Inviting again renews it.
    assert invited(org_admin, org, "newcomer").pk == invitation.pk
    assert api(newcomer).post(f"/api/invitations/{invitation.pk}/accept").status_code == 200


def test_a_member_already_cannot_accept_and_may_decline(org, org_admin, operator):
    invitation = invited(org_admin, org, operator.username, Role.ADMIN)
    response = api(operator).post(f"/api/invitations/{invitation.pk}/accept")
    assert response.status_code == 409
    assert response.json() == {"detail": "You are already a member of this organization."}
    assert Membership.objects.get(user=operator).role == Role.OPERATOR
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.PENDING
    assert api(operator).post(f"/api/invitations/{invitation.pk}/decline").status_code == 200


def test_invitations_need_a_signed_in_account(org, org_admin):
    invitation = invited(org_admin, org, "newcomer")
    assert api().get("/api/invitations").status_code == 401
    assert api().post(f"/api/invitations/{invitation.pk}/accept").status_code == 401


# The admin: an organization's admins invite; only a superuser adds an account directly.


def test_an_organization_admin_cannot_add_a_member_in_the_admin(client, org, org_admin, operator, newcomer):
    client.force_login(org_admin)
    assert client.get(admin_url(Membership, "add")).status_code == 403
    data = {"organization": org.pk, "user": "newcomer", "role": Role.ADMIN}
    assert client.post(admin_url(Membership, "add"), data).status_code == 403
    # Nor swap the account of a membership for another.
    member = Membership.objects.get(user=operator)
    response = client.post(admin_url(Membership, "change", member.pk), {**data, "role": Role.OPERATOR})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.user == operator
    # The organization's page offers no row to add.
    members = client.get(admin_url(type(org), "change", org.pk)).context["inline_admin_formsets"][0]
    assert not members.has_add_permission
    assert not Membership.objects.filter(user=newcomer).exists()


def test_a_superuser_still_adds_a_member_directly(client, org, superuser, newcomer):
    client.force_login(superuser)
    members = client.get(admin_url(type(org), "change", org.pk)).context["inline_admin_formsets"][0]
    assert members.has_add_permission
    response = client.post(admin_url(Membership, "add"), {"organization": org.pk, "user": "newcomer", "role": Role.OPERATOR})
    assert response.status_code == 302
    assert Membership.objects.get(user=newcomer).role == Role.OPERATOR


def test_an_organization_admin_invites_in_the_admin(client, org, other_org, org_admin, newcomer):
    client.force_login(org_admin)
    assert client.get(admin_url(Invitation, "add")).status_code == 200
    answers = []
    for username in ("newcomer", "nobody-by-that-name"):
        response = client.post(admin_url(Invitation, "add"), {"organization": org.pk, "username": username, "role": Role.OPERATOR})
        answers.append((response.status_code, response["Location"]))
    assert answers == [(302, admin_url(Invitation, "changelist"))] * 2
    assert sorted(Invitation.objects.values_list("username", "status", "created_by")) == [
        ("newcomer", "pending", org_admin.pk),
        ("nobody-by-that-name", "pending", org_admin.pk),
    ]
    assert not Membership.objects.filter(user=newcomer).exists()
    page = client.get(admin_url(Invitation, "changelist"))
    assert {i.username for i in page.context["cl"].result_list} == {"newcomer", "nobody-by-that-name"}
    # Only into their own organizations.
    response = client.post(admin_url(Invitation, "add"), {"organization": other_org.pk, "username": "x", "role": Role.VIEWER})
    assert "organization" in response.context["adminform"].form.errors


def test_an_organization_admin_revokes_in_the_admin(client, org, org_admin, newcomer):
    invitation = invited(org_admin, org, "newcomer")
    client.force_login(org_admin)
    data = {"action": "revoke", "_selected_action": [invitation.pk]}
    assert client.post(admin_url(Invitation, "changelist"), data).status_code == 302
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.REVOKED


def test_invitations_in_the_admin_are_scoped_to_their_organization(client, org, other_org, org_admin, viewer, member_factory):
    ours = invited(org_admin, org, "newcomer")
    their_admin = member_factory(other_org, Role.ADMIN, "their-admin")
    theirs = invited(their_admin, other_org, "someone")
    client.force_login(org_admin)
    assert list(client.get(admin_url(Invitation, "changelist")).context["cl"].result_list) == [ours]
    assert client.get(admin_url(Invitation, "change", theirs.pk)).status_code == 404
    client.post(admin_url(Invitation, "changelist"), {"action": "revoke", "_selected_action": [theirs.pk]})
    theirs.refresh_from_db()
    assert theirs.status == Invitation.Status.PENDING
    client.force_login(viewer)
    assert client.get(admin_url(Invitation, "changelist")).status_code == 403
    assert client.get(admin_url(Invitation, "add")).status_code == 403


def test_the_invitee_answers_in_the_admin(client, org, org_admin, operator, newcomer):
    mine = invited(org_admin, org, "newcomer", Role.OPERATOR)
    declined = invited(org_admin, org, operator.username)
    client.force_login(newcomer)
    page = client.get(admin_url(ReceivedInvitation, "changelist"))
    assert page.status_code == 200
    assert [i.pk for i in page.context["cl"].result_list] == [mine.pk]
    accept = reverse("admin:tenancy_receivedinvitation_accept", args=[mine.pk])
    assert accept in page.content.decode()
    assert client.get(accept).status_code == 405
    # Someone else's invitation is not found.
    assert client.post(reverse("admin:tenancy_receivedinvitation_accept", args=[declined.pk])).status_code == 404
    response = client.post(accept, follow=True)
    assert "You are now a member of Acme Salon." in response.content.decode()
    assert Membership.objects.get(user=newcomer).role == Role.OPERATOR
    # A second answer says why it is refused.
    response = client.post(reverse("admin:tenancy_receivedinvitation_decline", args=[mine.pk]), follow=True)
    assert "This invitation has already been answered." in response.content.decode()

    client.force_login(operator)
    response = client.post(reverse("admin:tenancy_receivedinvitation_decline", args=[declined.pk]), follow=True)
    assert "You have declined the invitation to Acme Salon." in response.content.decode()
    declined.refresh_from_db()
    assert declined.status == Invitation.Status.DECLINED


@pytest.mark.django_db
def test_accounts_whose_names_differ_only_in_case_each_see_only_their_own_spelling(org, org_admin):
    from django.contrib.auth import get_user_model

    from tenancy.models import Invitation

    users = get_user_model().objects
    bob, Bob = users.create_user("bob"), users.create_user("Bob")
    invitation = Invitation(organization=org, username="Bob", role="viewer")
    invitation.send(actor=org_admin)
    assert list(Invitation.objects.addressed_to(Bob)) == [invitation]
    assert list(Invitation.objects.addressed_to(bob)) == []
    carol = users.create_user("carol")
    other = Invitation(organization=org, username="CAROL", role="viewer")
    other.send(actor=org_admin)
    assert list(Invitation.objects.addressed_to(carol)) == [other]
