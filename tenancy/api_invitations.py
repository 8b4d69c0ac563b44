"""Invitations to join an organization, over the API.

An organization's admins invite by username (``POST /api/organizations/{id}/members``), list the
invitations still pending and revoke them; an invitation to a username that no account has is listed
like any other. The account with that username (in any case) sees its open invitations under
``/api/invitations`` and accepts or declines them; someone else's invitation answers 404 like a
missing one, and one that is expired, revoked or answered already answers 409 saying which.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from tenancy.actions import accept_invitation
from tenancy.api import Conflict
from tenancy.api_organizations import ORGANIZATION_PK, InOrganization, IsOrganizationAdmin
from tenancy.models import Invitation, InvitationError
from tenancy.serializers import InvitationSerializer

CLOSED = OpenApiResponse(description="Expired, revoked or answered already; or, on accepting, you are a member already.")


@extend_schema(parameters=[ORGANIZATION_PK])
@extend_schema_view(destroy=extend_schema(responses={204: None, 409: CLOSED}))
class OrganizationInvitationViewSet(
    InOrganization, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """One organization's invitations still waiting for an answer, for its admins. Deleting revokes."""

    queryset = Invitation.objects.pending().select_related("organization", "created_by")
    serializer_class = InvitationSerializer
    permission_classes = [permissions.IsAuthenticated, IsOrganizationAdmin]
    filterset_fields = ["role"]
    search_fields = ["username"]
    ordering_fields = ["created_at", "expires_at", "username"]
    ordering = ["-created_at"]

    def perform_destroy(self, instance):
        try:
            instance.close(Invitation.Status.REVOKED, actor=self.request.user)
        except InvitationError as exc:
            raise Conflict(str(exc)) from None


class InvitationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Invitations addressed to your username: the list shows the open ones; accept or decline them."""

    queryset = Invitation.objects.select_related("organization", "created_by")
    serializer_class = InvitationSerializer
    ordering_fields = ["created_at", "expires_at"]
    ordering = ["-created_at"]

    def get_queryset(self):
        mine = super().get_queryset().addressed_to(self.request.user)
        # Any other action sees the closed ones too, to say why they cannot be answered any more.
        return mine.answerable() if self.action == "list" else mine

    @extend_schema(request=None, responses={200: InvitationSerializer, 409: CLOSED})
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        """Join the organization with the invitation's role."""
        return self._answer(lambda invitation: accept_invitation(invitation, request.user))

    @extend_schema(request=None, responses={200: InvitationSerializer, 409: CLOSED})
    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        """Say no: the invitation closes."""
        return self._answer(lambda invitation: invitation.close(Invitation.Status.DECLINED, actor=request.user))

    def _answer(self, answer) -> Response:
        invitation = self.get_object()
        try:
            answer(invitation)
        except InvitationError as exc:
            raise Conflict(str(exc)) from None
        return Response(self.get_serializer(invitation).data)
