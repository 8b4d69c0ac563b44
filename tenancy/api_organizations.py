"""Organizations and their members over the API.

Any member lists the organization and its members. Only the organization's admins (and superusers)
add members, change roles and remove members; the last admin can be neither demoted nor removed
(409). Another organization, or a member of one, answers 404 like a missing one.
"""

from django.db import IntegrityError
from django.db.models import Count, OuterRef, Subquery
from django.shortcuts import get_object_or_404
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import permissions, serializers, viewsets

from tenancy.api import Conflict
from tenancy.models import LastAdminError, Membership, Organization, Role
from tenancy.scoping import has_role, organization_ids
from tenancy.serializers import MemberRoleSerializer, MemberSerializer, OrganizationSerializer

LAST_ADMIN = OpenApiResponse(description="The member is the organization's last admin.")


class OrganizationViewSet(viewsets.ReadOnlyModelViewSet):
    """The organizations you belong to, with your role in each."""

    queryset = Organization.objects.all()
    serializer_class = OrganizationSerializer
    ordering_fields = ["name", "created_at"]
    ordering = ["name"]
    search_fields = ["name", "slug"]

    def get_queryset(self):
        user = self.request.user
        role = Membership.objects.filter(organization=OuterRef("pk"), user_id=user.pk).values("role")[:1]
        return (
            super()
            .get_queryset()
            .filter(pk__in=organization_ids(user))
            .annotate(role=Subquery(role), member_count=Count("memberships", distinct=True))
        )


class IsOrganizationAdminForWrites(permissions.BasePermission):
    message = _("Only an admin of this organization may change its members.")

    def has_permission(self, request, view) -> bool:
        organization = view.organization  # 404 for an organization the user is not in
        return request.method in permissions.SAFE_METHODS or has_role(request.user, organization.pk, Role.ADMIN)


@extend_schema(parameters=[OpenApiParameter("organization_pk", int, OpenApiParameter.PATH, description="The organization's id.")])
@extend_schema_view(
    update=extend_schema(request=MemberRoleSerializer, responses={200: MemberRoleSerializer, 409: LAST_ADMIN}),
    partial_update=extend_schema(request=MemberRoleSerializer, responses={200: MemberRoleSerializer, 409: LAST_ADMIN}),
    destroy=extend_schema(responses={204: None, 409: LAST_ADMIN}),
)
class MemberViewSet(viewsets.ModelViewSet):
    """Members of one organization and their roles (viewer < operator < admin)."""

    queryset = Membership.objects.select_related("user")
    serializer_class = MemberSerializer
    permission_classes = [permissions.IsAuthenticated, IsOrganizationAdminForWrites]
    filterset_fields = ["role"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    ordering_fields = ["created_at", "role"]
    ordering = ["user__username"]

    @cached_property
    def organization(self) -> Organization:
        visible = Organization.objects.filter(pk__in=organization_ids(self.request.user))
        return get_object_or_404(visible, pk=self.kwargs["organization_pk"])

    def get_queryset(self):
        return super().get_queryset().filter(organization=self.organization)

    def get_serializer_class(self):
        return MemberRoleSerializer if self.action in ("update", "partial_update") else MemberSerializer

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False):
            context["organization"] = self.organization
        return context

    def perform_create(self, serializer):
        member = Membership(organization=self.organization, **serializer.validated_data)
        try:
            member.add(actor=self.request.user)
        except IntegrityError:
            # Another request added the same account a moment ago.
            raise serializers.ValidationError({"username": [_("This account is already a member of the organization.")]}) from None
        serializer.instance = member

    def perform_update(self, serializer):
        role = serializer.validated_data.get("role")
        if role is None:
            return
        try:
            serializer.instance.change_role(role, actor=self.request.user)
        except LastAdminError as exc:
            raise Conflict(str(exc)) from None

    def perform_destroy(self, instance):
        try:
            instance.remove(actor=self.request.user)
        except LastAdminError as exc:
            raise Conflict(str(exc)) from None
