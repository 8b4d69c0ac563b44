"""List filters scoped to the user's organizations. Apart from ``tenancy.api`` because DRF reads
``DEFAULT_FILTER_BACKENDS`` while its own views module loads: this module must not import them."""

from __future__ import annotations

import django_filters
from django_filters.rest_framework import DjangoFilterBackend

from tenancy.models import Organization
from tenancy.scoping import organization_ids


def visible_rows(model):
    """A ``queryset`` for django-filter's ModelChoiceFilter: only the request user's rows, so an id
    of another organization is refused exactly like an unknown one (400), never an empty 200 that
    would tell it exists."""

    def rows(request):
        if request is None:
            return model.objects.none()
        if model is Organization:
            return Organization.objects.filter(pk__in=organization_ids(request.user))
        if hasattr(model.objects, "for_user"):
            return model.objects.for_user(request.user)
        # A row kind with no organization of its own (a user, say) is no filter a list may offer
        # across organizations: nothing matches, so every id is refused alike.
        return model.objects.none()

    return rows


class ScopedFilterSet(django_filters.FilterSet):
    """The filter set every list's ``filterset_fields`` are built on: a filter naming a related row
    (``?organization=``, ``?skillbase=``, ``?campaign=``) accepts only the user's rows, so another
    organization's id is refused like an unknown one (400) instead of answering an empty 200."""

    @classmethod
    def filter_for_field(cls, field, field_name, lookup_expr=None):
        made = super().filter_for_field(field, field_name, lookup_expr)
        if isinstance(made, django_filters.ModelChoiceFilter) and field.related_model is not None:
            made.queryset = made.extra["queryset"] = visible_rows(field.related_model)
        return made


class ScopedFilterBackend(DjangoFilterBackend):
    filterset_base = ScopedFilterSet
