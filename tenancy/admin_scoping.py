"""Organization scoping for the admin: the one mixin every admin of an owned row uses.

A superuser sees and manages everything. Any other staff user sees the rows of the organizations
they belong to and writes where their role allows it (viewer < operator < admin); Django's model
permissions play no part. Another organization's object answers 404, exactly like a missing one.
"""

from __future__ import annotations

import copy
import json

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.forms.fields import InvalidJSONInput
from django.forms.models import BaseInlineFormSet
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from tenancy.models import Organization, Role
from tenancy.scoping import OwnedModel, organization_ids


def scope_queryset(queryset: models.QuerySet, user, *, role: str = Role.VIEWER) -> models.QuerySet:
    """``queryset`` narrowed to the organizations where ``user`` holds at least ``role``."""
    if queryset.model is Organization:
        return queryset.filter(pk__in=organization_ids(user, role=role))
    if hasattr(queryset, "for_user"):
        return queryset.for_user(user, role=role)
    return queryset.filter(organization_id__in=organization_ids(user, role=role))


def organizations_for(request, role: str) -> frozenset[int]:
    """Ids of the organizations where the request's user holds ``role``, read once per request:
    a changelist asks for permissions once per row and per action."""
    cache = request.__dict__.setdefault("_newvoice_organization_ids", {})
    if role not in cache:
        cache[role] = frozenset(Organization.objects.filter(pk__in=organization_ids(request.user, role=role)).values_list("pk", flat=True))
    return cache[role]


def request_has_role(request, role: str | None, organization_id: int | None = None) -> bool:
    """Whether the user holds ``role`` in that organization, or in any when it is None.
    A None role is reserved to superusers."""
    user = request.user
    if not (user.is_active and user.is_staff):
        return False
    if user.is_superuser:
        return True
    if role is None:
        return False
    ids = organizations_for(request, role)
    return bool(ids) if organization_id is None else organization_id in ids


class IndentedJSONField(forms.JSONField):
    """JSON in a textarea, objects indented for reading. An emptied box gives ``empty`` ({} or [])
    rather than None, which a NOT NULL column would refuse with a server error."""

    def __init__(self, *, empty=None, **kwargs):
        self.empty = empty
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, InvalidJSONInput):
            return value
        return json.dumps(value, ensure_ascii=False, indent=2 if isinstance(value, dict) else None)

    def to_python(self, value):
        value = super().to_python(value)
        return copy.deepcopy(self.empty) if value is None else value


class OrganizationScopedForm(forms.ModelForm):
    """Refuses a row whose related objects (skillbase, campaign, ...) belong to another organization
    than the row itself; the admin limits the choices too, this catches what slips past them."""

    # The relation the row takes its organization from, when the form has no organization field.
    organization_from: str | None = None

    def clean(self):
        cleaned_data = super().clean()
        organization_id = self._organization_id(cleaned_data)
        if organization_id is None:
            return cleaned_data
        for name, value in list(cleaned_data.items()):
            if name != "organization" and isinstance(value, OwnedModel) and value.organization_id != organization_id:
                self.add_error(
                    name,
                    ValidationError(
                        _("“%(object)s” belongs to another organization than this %(model)s."),
                        code="other_organization",
                        params={"object": value, "model": self._meta.model._meta.verbose_name},
                    ),
                )
        return cleaned_data

    def _organization_id(self, cleaned_data) -> int | None:
        if "organization" in self.fields:
            organization = cleaned_data.get("organization")
            return organization.pk if organization else None
        if self.organization_from and self.organization_from in self.fields:
            parent = cleaned_data.get(self.organization_from)
            if parent is None:
                return None
            self.instance.organization_id = parent.organization_id
        return getattr(self.instance, "organization_id", None)


class OrganizationScopedAdmin:
    """Mixin for a ModelAdmin: rows, foreign-key choices and permissions by organization role.

    ``view_role`` may look, ``write_role`` may add, change and delete (None: superusers only),
    ``read_only`` rows (versions, calls, events) are written by the engine and never by hand.
    """

    view_role: str = Role.VIEWER
    write_role: str | None = Role.OPERATOR
    read_only: bool = False
    organization_from: str | None = None
    form = OrganizationScopedForm

    def organization_id_of(self, obj) -> int:
        return obj.organization_id

    def has_role(self, request, role: str | None, obj=None) -> bool:
        return request_has_role(request, role, None if obj is None else self.organization_id_of(obj))

    def has_module_permission(self, request):
        return self.has_role(request, self.view_role)

    def has_view_permission(self, request, obj=None):
        return self.has_role(request, self.view_role, obj)

    def has_add_permission(self, request):
        return not self.read_only and self.has_role(request, self.write_role)

    def has_change_permission(self, request, obj=None):
        return not self.read_only and self.has_role(request, self.write_role, obj)

    def has_delete_permission(self, request, obj=None):
        return not self.read_only and self.has_role(request, self.write_role, obj)

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request.user, role=self.view_role)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            # Not the default "perhaps it was deleted" redirect: that would confirm the id exists.
            raise Http404(_("No %(name)s with this id.") % {"name": self.opts.verbose_name})
        return obj

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.JSONField):
            default = db_field.get_default()
            empty = {} if isinstance(default, dict) else [] if isinstance(default, list) else None
            kwargs = {"form_class": IndentedJSONField, "empty": empty, **kwargs}
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        # A row may only point at what its author may write to: the same organizations.
        role = self.write_role or Role.ADMIN
        if related is Organization or issubclass(related, OwnedModel):
            kwargs["queryset"] = scope_queryset(related._default_manager.all(), request.user, role=role)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            # A row stays in its organization: its children and history were written there.
            readonly += [name for name in ("organization", self.organization_from) if name and self._is_model_field(name)]
        return readonly

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.organization_from = self.organization_from
        return form

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        writable = organizations_for(request, self.write_role) if self.write_role and not request.user.is_superuser else ()
        if len(writable) == 1 and self._is_model_field("organization"):
            initial.setdefault("organization", next(iter(writable)))
        return initial

    def save_model(self, request, obj, form, change):
        if not change:
            obj.save()
            return
        # Workers write these rows too (pacing, dispatch, results): save only what the form
        # changed, so a form opened a minute ago cannot overwrite their columns.
        fields = self.changed_model_fields(obj, form)
        if fields:
            obj.save(update_fields=fields)

    @staticmethod
    def changed_model_fields(obj, form) -> list[str]:
        changed = [f.name for f in obj._meta.concrete_fields if f.name in form.changed_data]
        if changed:
            changed += [f.name for f in obj._meta.concrete_fields if getattr(f, "auto_now", False)]
        return changed

    def get_inlines(self, request, obj):
        inlines = super().get_inlines(request, obj)
        # An add page has no history, calls or events to show yet.
        return inlines if obj is not None else [i for i in inlines if not issubclass(i, ReadOnlyInline)]

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # The model's own rule (a running campaign, a skillbase in use) refuses the deletion here as
        # it does in the API: the confirmation page lists why and offers no button.
        refusals = [f"{obj}: {problem}" for obj in objs if (problem := getattr(obj, "deletion_problem", lambda: "")())]
        protected = [*protected, *refusals]
        # Read-only rows (versions, calls, events) have no delete of their own, yet they go with
        # the parent the user may delete: the database cascades them anyway.
        read_only = {str(m._meta.verbose_name) for m, a in self.admin_site._registry.items() if getattr(a, "read_only", False)}
        return deleted, counts, {p for p in perms_needed if str(p) not in read_only}, protected

    def _is_model_field(self, name: str) -> bool:
        return any(f.name == name for f in self.opts.get_fields())


class BoundedInlineFormSet(BaseInlineFormSet):
    """The first ``max_rows`` rows in the model's order: a call can have thousands of events."""

    max_rows = 100

    def get_queryset(self):
        if not hasattr(self, "_bounded_rows"):
            # One query, evaluated once: the formset indexes into it row by row.
            self._bounded_rows = list(super().get_queryset()[: self.max_rows])
        return self._bounded_rows


class ReadOnlyInline:
    """Mixin for an inline of immutable rows: shown to whoever may see the parent, never edited."""

    extra = 0
    can_delete = False
    show_change_link = True
    formset = BoundedInlineFormSet
    max_rows = 100

    def has_view_permission(self, request, obj=None):
        return self.admin_site.get_model_admin(self.parent_model).has_view_permission(request, obj)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request.user)

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.max_rows = self.max_rows
        return formset


class ScopedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A foreign-key filter offering only the related rows the user may see. Unlike
    RelatedOnlyFieldListFilter it does not scan the listed table (calls, events) for them."""

    def field_choices(self, field, request, model_admin):
        related = scope_queryset(field.related_model._default_manager.all(), request.user)
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(include_blank=False, limit_choices_to={"pk__in": related.values("pk")}, ordering=ordering)
