"""The one organization-scoped getter that admin, API and WebSocket all use."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from skillbases.models import Skillbase
from tenancy.models import Role
from tenancy.scoping import get_for_user, has_role


@pytest.fixture
def two_skillbases(org, other_org, skillbase_factory):
    return skillbase_factory(org, name="Ours"), skillbase_factory(other_org, name="Theirs")


def names(queryset):
    return sorted(queryset.values_list("name", flat=True))


def test_member_sees_only_their_organization(two_skillbases, operator):
    assert names(Skillbase.objects.for_user(operator)) == ["Ours"]


def test_superuser_sees_every_organization(two_skillbases, superuser):
    assert names(Skillbase.objects.for_user(superuser)) == ["Ours", "Theirs"]


def test_anonymous_and_inactive_users_see_nothing(two_skillbases, operator):
    assert names(Skillbase.objects.for_user(AnonymousUser())) == []
    operator.is_active = False
    operator.save()
    assert names(Skillbase.objects.for_user(operator)) == []


def test_role_filter_excludes_lower_roles(two_skillbases, viewer, operator):
    assert names(Skillbase.objects.for_user(viewer, role=Role.OPERATOR)) == []
    assert names(Skillbase.objects.for_user(operator, role=Role.OPERATOR)) == ["Ours"]
    assert names(Skillbase.objects.for_user(operator, role=Role.ADMIN)) == []


def test_get_for_user_hides_other_organizations_objects_as_not_found(two_skillbases, operator):
    ours, theirs = two_skillbases
    assert get_for_user(Skillbase.objects, operator, ours.pk) == ours
    with pytest.raises(Http404):
        get_for_user(Skillbase.objects, operator, theirs.pk)
    with pytest.raises(Http404):
        get_for_user(Skillbase.objects, operator, 999999)
    with pytest.raises(Http404):
        get_for_user(Skillbase.objects, operator, "not-a-number")


def test_member_of_two_organizations_sees_both(two_skillbases, org, other_org, member_factory):
    from tenancy.models import Membership

    user = member_factory(org, Role.VIEWER, username="both")
    Membership.objects.create(organization=other_org, user=user, role=Role.ADMIN)
    assert names(Skillbase.objects.for_user(user)) == ["Ours", "Theirs"]
    assert names(Skillbase.objects.for_user(user, role=Role.OPERATOR)) == ["Theirs"]
    assert has_role(user, other_org.pk, Role.ADMIN)
    assert not has_role(user, org.pk, Role.OPERATOR)
