from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from tenancy.models import ApiToken, Invitation, Membership, Organization, Role


class OrganizationSerializer(serializers.ModelSerializer):
    role = serializers.ChoiceField(
        choices=Role.choices, read_only=True, allow_null=True, help_text=_("Your role here; null for a superuser who is not a member.")
    )
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "timezone", "max_concurrent_calls", "role", "member_count", "created_at"]
        read_only_fields = fields


class MemberSerializer(serializers.ModelSerializer):
    """A member and their role. Only the role changes: an account joins by accepting an invitation."""

    user = serializers.IntegerField(source="user_id", read_only=True)
    username = serializers.CharField(source="user.get_username", read_only=True)
    full_name = serializers.CharField(source="user.get_full_name", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "username", "full_name", "role", "created_at"]
        read_only_fields = ["created_at"]


class InviteSerializer(serializers.ModelSerializer):
    """Whom to invite, by username, and the role they will have once they accept."""

    class Meta:
        model = Invitation
        fields = ["username", "role"]


class InvitationSerializer(serializers.ModelSerializer):
    """An invitation, the same whether or not an account has its username."""

    organization_name = serializers.CharField(source="organization.name", read_only=True)
    invited_by = serializers.CharField(source="created_by.get_username", read_only=True, allow_null=True)

    class Meta:
        model = Invitation
        fields = [
            "id", "organization", "organization_name", "username", "role", "status", "invited_by", "created_at", "expires_at",
            "answered_at",
        ]  # fmt: skip
        read_only_fields = fields


class ApiTokenSerializer(serializers.ModelSerializer):
    """A token as it is listed: never the secret, nor enough of it to use."""

    username = serializers.CharField(source="user.get_username", read_only=True)
    digest_prefix = serializers.CharField(read_only=True, help_text=_("The start of the stored SHA-512 digest, to tell tokens apart."))

    class Meta:
        model = ApiToken
        fields = ["id", "name", "user", "username", "digest_prefix", "created", "expiry"]
        read_only_fields = fields


class IssueTokenSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, help_text=_("What the token is for."))
    expires_in_days = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=settings.API_TOKEN_MAX_DAYS,
        help_text=_("Days until the token stops working; the installation's default when left out."),
    )


class IssuedTokenSerializer(ApiTokenSerializer):
    token = serializers.CharField(
        read_only=True, help_text=_("The secret: shown this once, never stored. Send it as “Authorization: Token <token>”.")
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields
