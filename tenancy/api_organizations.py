"""Organizations and their members over the API.

Any member lists the organization and its members. Only the organization's admins (and superusers)
invite accounts, change roles and remove members; the last admin can be neither demoted nor removed
(409). Another organization, or a member of one, answers 404 like a missing one.

Adding a member invites them: the account joins once it accepts (``tenancy.api_invitations``). The
answer to an invitation is the same whether or not an account has the username, or is a member
already, so that no admin learns from it which usernames exist.
"""

from django.db.models import Count, OuterRef, Subquery
from django.shortcuts import get_object_or_404
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view, inline_serializer
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.response import Response

from tenancy.api import Conflict
from tenancy.models import Invitation, LastAdminError, Membership, Organization, Role
from tenancy.scoping import has_role, organization_ids
from tenancy.serializers import InviteSerializer, MemberSerializer, OrganizationSerializer

LAST_ADMIN = OpenApiResponse(description="The member is the organization's last admin.")
INVITED = _("If an account with this username exists, it has been invited.")
INVITATION_SENT = inline_serializer(
    "InvitationSent",
    {
        "detail": serializers.CharField(help_text=_("The same whether or not an account has this username.")),
        "invitation": serializers.IntegerField(help_text=_("The invitation's id, to revoke it.")),
    },
)
ORGANIZATION_PK = OpenApiParameter("organization_pk", int, OpenApiParameter.PATH, description="The organization's id.")


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


class InOrganization:
    """Mixin for a viewset of one organization's rows, the organization named in the URL."""

    @cached_property
    def organization(self) -> Organization:
        visible = Organization.objects.filter(pk__in=organization_ids(self.request.user))
        return get_object_or_404(visible, pk=self.kwargs["organization_pk"])

    def get_queryset(self):
        return super().get_queryset().filter(organization=self.organization)


class IsOrganizationAdmin(permissions.BasePermission):
    message = _("Only an admin of this organization may manage its invitations.")

    def has_permission(self, request, view) -> bool:
        organization = view.organization  # 404 for an organization the user is not in
        return has_role(request.user, organization.pk, Role.ADMIN)


class IsOrganizationAdminForWrites(IsOrganizationAdmin):
    message = _("Only an admin of this organization may change its members.")

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return view.organization is not None  # 404 for an organization the user is not in
        return super().has_permission(request, view)


@extend_schema(parameters=[ORGANIZATION_PK])
@extend_schema_view(
    update=extend_schema(responses={200: MemberSerializer, 409: LAST_ADMIN}),
    partial_update=extend_schema(responses={200: MemberSerializer, 409: LAST_ADMIN}),
    destroy=extend_schema(responses={204: None, 409: LAST_ADMIN}),
)
class MemberViewSet(InOrganization, viewsets.ModelViewSet):
    """Members of one organization and their roles (viewer < operator < admin)."""

    queryset = Membership.objects.select_related("user")
    serializer_class = MemberSerializer
    permission_classes = [permissions.IsAuthenticated, IsOrganizationAdminForWrites]
    filterset_fields = ["role"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    ordering_fields = ["created_at", "role"]
    ordering = ["user__username"]

    @extend_schema(request=InviteSerializer, responses={202: INVITATION_SENT})
    def create(self, request, *args, **kwargs):
        """Invite an account by username, with the role it will have: it joins once it accepts.
        The answer is the same whether or not an account has this username, or is a member already."""
        form = InviteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        invitation = Invitation(organization=self.organization, **form.validated_data)
        invitation.send(actor=request.user)
        return Response({"detail": str(INVITED), "invitation": invitation.pk}, status=status.HTTP_202_ACCEPTED)

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
