"""API tokens over the API (django-rest-knox, hashed, expiring).

You issue tokens for yourself, from a signed-in session: a token cannot issue another, so a leaked
token dies with its revocation or expiry. You list and revoke your own tokens; an organization's
admins also list and revoke the tokens of its members (a token is its user's, valid in every
organization they belong to, so any of those organizations' admins may revoke it). Tokens are
listed until they expire; the secret is returned once, by the request that issues it.
"""

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.response import Response

from tenancy.models import ApiToken
from tenancy.serializers import ApiTokenSerializer, IssuedTokenSerializer, IssueTokenSerializer
from tenancy.throttling import TokenIssueThrottle


class ApiTokenFilter(django_filters.FilterSet):
    user = django_filters.NumberFilter(field_name="user_id", help_text=_("Only this user's tokens."))

    class Meta:
        model = ApiToken
        fields = ["user"]


class ApiTokenViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Your API tokens and, for an organization's admins, its members' tokens. Deleting revokes."""

    queryset = ApiToken.objects.select_related("user")
    serializer_class = ApiTokenSerializer
    filterset_class = ApiTokenFilter
    search_fields = ["name"]
    ordering_fields = ["created", "expiry", "name"]
    ordering = ["-created"]

    def get_queryset(self):
        return super().get_queryset().for_user(self.request.user).unexpired()

    def get_throttles(self):
        return [TokenIssueThrottle()] if self.action == "create" else super().get_throttles()

    def throttled(self, request, wait):
        raise exceptions.Throttled(wait, detail=str(_("You have issued too many tokens lately.")))

    @extend_schema(
        request=IssueTokenSerializer,
        responses={
            201: IssuedTokenSerializer,
            403: OpenApiResponse(description="The request was made with a token."),
            429: OpenApiResponse(description="Too many tokens issued lately; Retry-After says when to try again."),
        },
    )
    def create(self, request, *args, **kwargs):
        """Issue a token for yourself. The secret is in this response only."""
        if isinstance(request.auth, ApiToken):
            raise exceptions.PermissionDenied(_("Issue tokens from a signed-in session: a token cannot issue another token."))
        form = IssueTokenSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        token, secret = ApiToken.objects.issue(request.user, issued_by=request.user, **_issue_options(form.validated_data))
        return Response({**ApiTokenSerializer(token).data, "token": secret}, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        instance.revoke(actor=self.request.user)


def _issue_options(data: dict) -> dict:
    return {"name": data.get("name", ""), "days": data.get("expires_in_days")}
