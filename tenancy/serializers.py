from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from tenancy.models import ApiToken, Membership, Organization, Role


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
    """A member as it is added: an existing active account by username, and a role."""

    username = serializers.SlugRelatedField(
        source="user",
        slug_field=get_user_model().USERNAME_FIELD,
        queryset=get_user_model().objects.filter(is_active=True),
        help_text=_("The exact username of an existing account."),
        error_messages={"does_not_exist": _("There is no active account with this username.")},
    )
    user = serializers.IntegerField(source="user_id", read_only=True)
    full_name = serializers.CharField(source="user.get_full_name", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "username", "full_name", "role", "created_at"]
        read_only_fields = ["created_at"]
        # The organization comes from the URL; uniqueness is checked in validate().
        validators = []

    def validate(self, attrs):
        organization = self.context["organization"]
        if Membership.objects.filter(organization=organization, user=attrs["user"]).exists():
            raise serializers.ValidationError({"username": _("This account is already a member of the organization.")})
        return attrs


class MemberRoleSerializer(MemberSerializer):
    """A member whose role changes; the account stays the same."""

    username = serializers.CharField(source="user.get_username", read_only=True)

    def validate(self, attrs):
        return attrs


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
