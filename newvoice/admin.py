from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from newvoice.admin_scoping import OrganizationScopedAdmin, OrganizationScopedForm, ScopedRelatedFieldListFilter, request_has_role
from newvoice.models import Membership, Organization, Role


class UserByUsernameField(forms.ModelChoiceField):
    """A user typed by username: an organization admin must not get a list of every account."""

    widget = forms.TextInput

    def __init__(self, **kwargs):
        user_model = get_user_model()
        kwargs.setdefault("help_text", _("The exact username of an existing account."))
        kwargs.setdefault("error_messages", {"invalid_choice": _("There is no active account with this username.")})
        super().__init__(queryset=user_model.objects.filter(is_active=True), to_field_name=user_model.USERNAME_FIELD, **kwargs)


class MembershipForm(OrganizationScopedForm):
    user = UserByUsernameField(label=_("user"))

    class Meta:
        model = Membership
        fields = ("organization", "user", "role")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            # The inline selects the users with the memberships: no query per row.
            self.initial["user"] = self.instance.user.get_username()


class MembershipInline(admin.TabularInline):
    """Members on their organization's page, managed by the organization's admins."""

    model = Membership
    form = MembershipForm
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)
    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    def _is_org_admin(self, request, obj) -> bool:
        return request_has_role(request, Role.ADMIN, None if obj is None else obj.pk)

    def has_view_permission(self, request, obj=None):
        return self._is_org_admin(request, obj)

    def has_add_permission(self, request, obj=None):
        return self._is_org_admin(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._is_org_admin(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._is_org_admin(request, obj)


@admin.register(Organization)
class OrganizationAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    """Superusers create and delete organizations; members see theirs; its admins edit it."""

    write_role = Role.ADMIN
    list_display = ("name", "slug", "timezone", "max_concurrent_calls", "member_count", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    fields = ("name", "slug", "timezone", "max_concurrent_calls", "created_at")
    readonly_fields = ("created_at",)
    inlines = [MembershipInline]

    def organization_id_of(self, obj) -> int:
        return obj.pk

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if not request.user.is_superuser:
            # The slug names the organization in links; capacity is the installation's to give.
            readonly = [*readonly, "slug", "max_concurrent_calls"]
        return readonly

    def get_prepopulated_fields(self, request, obj=None):
        return self.prepopulated_fields if request.user.is_superuser else {}

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    @admin.display(description=_("members"), ordering="member_count")
    def member_count(self, obj) -> int:
        return obj.member_count


@admin.register(Membership)
class MembershipAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    """An organization's admins manage who belongs to it, and only there."""

    view_role = Role.ADMIN
    write_role = Role.ADMIN
    form = MembershipForm
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role", ("organization", ScopedRelatedFieldListFilter))
    list_select_related = ("user", "organization")
    search_fields = ("user__username", "user__email", "organization__name")
    fields = ("organization", "user", "role", "created_at")
    readonly_fields = ("created_at",)
