"""What every API view shares: organization scoping and role checks.

Reads need membership (any role) and are scoped by the queryset, so another organization's object
is simply not found (404). Writes need ``write_role`` (operator by default) in the object's
organization; a member with a lower role gets 403.
"""

from __future__ import annotations

import copy

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, permissions, serializers, viewsets

from tenancy.filtering import visible_rows
from tenancy.models import Organization, Role
from tenancy.scoping import has_role, organization_ids


class Conflict(exceptions.APIException):
    """The object's state does not allow the change (409); ``detail`` says why."""

    status_code = 409
    default_detail = _("The current state does not allow this.")
    default_code = "conflict"


class OrganizationRolePermission(permissions.BasePermission):
    message = _("Your role in this organization does not allow this.")

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        return organization_ids(user, role=_write_role(view)).exists()

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return has_role(request.user, obj.organization_id, _write_role(view))


def _write_role(view) -> str:
    return getattr(view, "write_role", Role.OPERATOR)


class OrganizationField(serializers.PrimaryKeyRelatedField):
    """The owning organization: only ones where the user may write; optional when there is one."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        role = _write_role(self.context.get("view"))
        return Organization.objects.filter(pk__in=organization_ids(request.user, role=role))


class OwnedSerializer(serializers.ModelSerializer):
    """Fills ``organization`` from the user's only organization when it is left out, and keeps
    it from changing on update."""

    organization = OrganizationField()

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if self.instance is not None:
            attrs.pop("organization", None)
        elif "organization" not in attrs:
            choices = list(self.fields["organization"].get_queryset()[:2])
            if len(choices) != 1:
                raise serializers.ValidationError({"organization": _("Choose the organization.")})
            attrs["organization"] = choices[0]
        return attrs

    def model_rules(self, attrs) -> None:
        """Run the model's own rules (field validators and ``clean``) on the row as it would be
        saved, as the admin's form does: one validation for every door. Fields this serializer
        does not write are left to whoever writes them."""
        model = self.Meta.model
        row = copy.copy(self.instance) if self.instance is not None else model()
        for name, value in attrs.items():
            setattr(row, name, value)
        written = {field.source for field in self.fields.values() if not field.read_only}
        exclude = [field.name for field in model._meta.concrete_fields if field.name not in written and field.attname not in written]
        try:
            row.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(serializers.as_serializer_error(exc)) from None

    def same_organization(self, attrs, field: str):
        """Raise when a related object belongs to another organization than the row."""
        related = attrs.get(field)
        organization = attrs.get("organization") or getattr(self.instance, "organization", None)
        if related is not None and organization is not None and related.organization_id != organization.pk:
            raise serializers.ValidationError({field: _("It belongs to another organization.")})


class OrganizationScopedViewSet(viewsets.ModelViewSet):
    """A model viewset whose rows are those of the user's organizations."""

    permission_classes = [OrganizationRolePermission]
    write_role = Role.OPERATOR

    def get_queryset(self):
        return super().get_queryset().for_user(self.request.user)


@extend_schema_field(OpenApiTypes.INT)
class VisibleRowField(serializers.PrimaryKeyRelatedField):
    """A query parameter naming one of the user's rows; another organization's id reads as unknown."""

    def __init__(self, model, **kwargs):
        self.rows = visible_rows(model)
        super().__init__(**kwargs)

    def get_queryset(self):
        return self.rows(self.context.get("request"))
