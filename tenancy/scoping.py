"""Organization scoping shared by the admin, the API and the WebSocket consumers.

Every owned row carries an ``organization`` foreign key. A superuser sees every organization; any
other user sees the organizations they are a member of, and may write only where their role is
high enough. Everything that reads owned rows on behalf of a user goes through ``for_user``.
"""

from django.db import models
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from tenancy.models import Membership, Organization, Role, roles_at_least


def organization_ids(user, *, role: str = Role.VIEWER) -> models.QuerySet:
    """Ids of the organizations where ``user`` holds at least ``role`` (a subquery, not a list)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Organization.objects.none().values("pk")
    if user.is_superuser:
        return Organization.objects.values("pk")
    return Membership.objects.filter(user=user, role__in=roles_at_least(role)).values("organization_id")


def organization_id_list(user, *, role: str = Role.VIEWER) -> list[int]:
    """The same ids as ``organization_ids``, read now: a literal ``IN (1, 2)`` lets PostgreSQL walk an
    (organization, …) index in order, where a subquery makes it sort every row first."""
    return [next(iter(row.values())) for row in organization_ids(user, role=role)]


def has_role(user, organization_id: int, role: str) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return Membership.objects.filter(user=user, organization_id=organization_id, role__in=roles_at_least(role)).exists()


class OrganizationQuerySet(models.QuerySet):
    def for_user(self, user, *, role: str = Role.VIEWER) -> "OrganizationQuerySet":
        return self.filter(organization_id__in=organization_ids(user, role=role))


class OwnedModel(models.Model):
    """Base for every row that belongs to an organization."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", verbose_name=_("organization"))

    objects = OrganizationQuerySet.as_manager()

    class Meta:
        abstract = True


def get_for_user(queryset: models.QuerySet, user, pk, *, role: str = Role.VIEWER):
    """The object with ``pk`` if ``user`` may see it, else 404: another organization's object and a
    missing one look the same from outside."""
    try:
        return queryset.for_user(user, role=role).get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404(f"No {queryset.model._meta.verbose_name} with id {pk!r}.") from None
