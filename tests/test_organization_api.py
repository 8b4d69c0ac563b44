"""Organizations and their members through the API: who sees them, who manages them, and the rule
that an organization always keeps an admin."""

import pytest
from rest_framework.test import APIClient

from tenancy.models import Invitation, Membership, Role


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def members_url(organization, membership=None) -> str:
    base = f"/api/organizations/{organization.pk}/members"
    return base if membership is None else f"{base}/{membership.pk}"


def membership(user) -> Membership:
    return Membership.objects.get(user=user)


# Organizations


def test_my_organizations_with_my_role(org, other_org, viewer, operator):
    response = api(viewer).get("/api/organizations")
    assert response.status_code == 200
    assert response.json()["results"] == [
        {
            "id": org.pk,
            "name": "Acme Salon",
            "slug": "acme",
            "timezone": "UTC",
            "max_concurrent_calls": 20,
            "role": "viewer",
            "member_count": 2,
            "created_at": response.json()["results"][0]["created_at"],
        }
    ]


def test_a_superuser_sees_every_organization_without_a_role(org, other_org, superuser):
    rows = api(superuser).get("/api/organizations").json()["results"]
    assert [(row["name"], row["role"]) for row in rows] == [("Acme Salon", None), ("Other Clinic", None)]


def test_another_organization_is_not_found(org, outsider):
    assert api(outsider).get(f"/api/organizations/{org.pk}").status_code == 404


def test_organizations_are_read_only(org, org_admin):
    assert api(org_admin).patch(f"/api/organizations/{org.pk}", {"name": "Renamed"}, format="json").status_code == 405


# Listing members


def test_any_member_lists_the_members(org, viewer, operator, org_admin, outsider):
    response = api(viewer).get(members_url(org))
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [(row["username"], row["role"]) for row in rows] == [
        ("acme-admin", "admin"),
        ("acme-operator", "operator"),
        ("acme-viewer", "viewer"),
    ]
    assert set(rows[0]) == {"id", "user", "username", "full_name", "role", "created_at"}
    assert rows[0]["user"] == org_admin.pk


def test_members_can_be_filtered_by_role(org, viewer, operator):
    rows = api(viewer).get(members_url(org) + "?role=operator").json()["results"]
    assert [row["username"] for row in rows] == ["acme-operator"]


def test_another_organizations_members_are_not_found(org, viewer, outsider):
    assert api(outsider).get(members_url(org)).status_code == 404
    assert api(outsider).get(members_url(org, membership(viewer))).status_code == 404
    # A membership of another organization is not found under one's own either.
    assert api(viewer).get(members_url(org, membership(outsider))).status_code == 404


def test_members_anonymous_is_401(org):
    assert api().get(members_url(org)).status_code == 401


def test_member_list_has_no_n_plus_one(org, org_admin, member_factory, django_assert_max_num_queries):
    client = api(org_admin)
    with django_assert_max_num_queries(6) as one:
        assert client.get(members_url(org)).json()["count"] == 1
    for number in range(5):
        member_factory(org, Role.VIEWER, f"viewer-{number}")
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert client.get(members_url(org)).json()["count"] == 6


# Adding members: an admin invites, the account joins once it accepts (tests/test_invitations.py).


def test_adding_a_member_invites_them(org, org_admin, django_user_model):
    django_user_model.objects.create_user(username="newcomer", first_name="Nina", last_name="Petrova")
    response = api(org_admin).post(members_url(org), {"username": "newcomer", "role": "operator"}, format="json")
    assert response.status_code == 202, response.content
    assert not Membership.objects.filter(organization=org, user__username="newcomer").exists()
    assert Invitation.objects.get(pk=response.json()["invitation"]).role == Role.OPERATOR


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.VIEWER])
def test_only_admins_add_members(org, member_factory, django_user_model, role):
    django_user_model.objects.create_user(username="newcomer")
    response = api(member_factory(org, role)).post(members_url(org), {"username": "newcomer"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Only an admin of this organization may change its members."}
    assert not Invitation.objects.exists()


def test_another_organizations_admin_cannot_add(org, other_org, member_factory, django_user_model):
    django_user_model.objects.create_user(username="newcomer")
    their_admin = member_factory(other_org, Role.ADMIN, "their-admin")
    assert api(their_admin).post(members_url(org), {"username": "newcomer"}, format="json").status_code == 404
    assert not Invitation.objects.exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"username": "newcomer", "role": "owner"}, "role"),
        ({"username": "new comer"}, "username"),
        ({"username": "x" * 151}, "username"),
        ({}, "username"),
    ],
)
def test_add_refuses_malformed_input(org, org_admin, django_user_model, body, field):
    django_user_model.objects.create_user(username="newcomer")
    response = api(org_admin).post(members_url(org), body, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert not Invitation.objects.exists()


def test_malformed_json_is_400(org, org_admin):
    response = api(org_admin).post(members_url(org), '{"username": ', content_type="application/json")
    assert response.status_code == 400 and response.json()["detail"].startswith("JSON parse error - ")


# Changing roles


def test_admin_changes_a_role(org, org_admin, operator):
    response = api(org_admin).patch(members_url(org, membership(operator)), {"role": "admin"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["role"] == "admin" and response.json()["username"] == "acme-operator"
    assert membership(operator).role == Role.ADMIN


def test_the_account_of_a_membership_does_not_change(org, org_admin, operator, viewer):
    response = api(org_admin).patch(members_url(org, membership(operator)), {"username": "acme-viewer"}, format="json")
    assert response.status_code == 200
    assert membership(operator).organization == org and Membership.objects.filter(user=viewer).count() == 1


def test_operator_cannot_change_roles(org, operator, viewer):
    response = api(operator).patch(members_url(org, membership(viewer)), {"role": "admin"}, format="json")
    assert response.status_code == 403
    assert membership(viewer).role == Role.VIEWER


def test_change_refuses_an_unknown_role(org, org_admin, operator):
    response = api(org_admin).patch(members_url(org, membership(operator)), {"role": "owner"}, format="json")
    assert response.status_code == 400 and "role" in response.json()


def test_the_last_admin_cannot_be_demoted(org, org_admin):
    response = api(org_admin).patch(members_url(org, membership(org_admin)), {"role": "operator"}, format="json")
    assert response.status_code == 409
    assert response.json() == {"detail": "An organization keeps at least one admin: make another member an admin first."}
    assert membership(org_admin).role == Role.ADMIN


def test_an_admin_steps_down_when_another_remains(org, org_admin, member_factory):
    member_factory(org, Role.ADMIN, "second-admin")
    response = api(org_admin).patch(members_url(org, membership(org_admin)), {"role": "viewer"}, format="json")
    assert response.status_code == 200
    assert membership(org_admin).role == Role.VIEWER
    # Now the remaining admin is the last one.
    second = Membership.objects.get(user__username="second-admin")
    client = api(second.user)
    assert client.patch(members_url(org, second), {"role": "viewer"}, format="json").status_code == 409


def test_other_organizations_admins_do_not_count(org, other_org, org_admin, member_factory):
    member_factory(other_org, Role.ADMIN, "their-admin")
    response = api(org_admin).patch(members_url(org, membership(org_admin)), {"role": "viewer"}, format="json")
    assert response.status_code == 409


# Removing members


def test_admin_removes_a_member(org, org_admin, operator):
    assert api(org_admin).delete(members_url(org, membership(operator))).status_code == 204
    assert not Membership.objects.filter(user=operator).exists()
    assert operator.__class__.objects.filter(pk=operator.pk).exists()  # the account stays


def test_operator_cannot_remove(org, operator, viewer):
    assert api(operator).delete(members_url(org, membership(viewer))).status_code == 403
    assert Membership.objects.filter(user=viewer).exists()


def test_the_last_admin_cannot_be_removed(org, org_admin):
    response = api(org_admin).delete(members_url(org, membership(org_admin)))
    assert response.status_code == 409 and "at least one admin" in response.json()["detail"]
    assert Membership.objects.filter(user=org_admin).exists()


def test_another_organizations_member_cannot_be_removed(org, other_org, org_admin, outsider):
    assert api(org_admin).delete(members_url(org, membership(outsider))).status_code == 404
    assert api(org_admin).delete(members_url(other_org, membership(outsider))).status_code == 404
    assert Membership.objects.filter(user=outsider).exists()


def test_a_superuser_manages_any_organization(org, superuser, operator):
    response = api(superuser).patch(members_url(org, membership(operator)), {"role": "viewer"}, format="json")
    assert response.status_code == 200
    assert membership(operator).role == Role.VIEWER
