import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Count
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from knox.settings import knox_settings

from tenancy.actions import accept_invitation
from tenancy.admin_scoping import OrganizationScopedAdmin, OrganizationScopedForm, ScopedRelatedFieldListFilter, request_has_role
from tenancy.models import (
    ApiToken,
    AuditEntry,
    Invitation,
    InvitationError,
    LastAdminError,
    Membership,
    Organization,
    ReceivedInvitation,
    Role,
    managed_users,
)


class UserByUsernameField(forms.ModelChoiceField):
    """A user typed by username: an organization admin must not get a list of every account."""

    widget = forms.TextInput

    def __init__(self, *, queryset=None, **kwargs):
        user_model = get_user_model()
        kwargs.setdefault("help_text", _("The exact username of an existing account."))
        kwargs.setdefault("error_messages", {"invalid_choice": _("There is no active account with this username.")})
        if queryset is None:
            queryset = user_model.objects.filter(is_active=True)
        super().__init__(queryset=queryset, to_field_name=user_model.USERNAME_FIELD, **kwargs)


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
            # A membership's account never changes: swapping it would add that account unasked.
            self.fields["user"].disabled = True
            self.fields["user"].queryset = get_user_model().objects.filter(pk=self.instance.user_id)

    def clean(self):
        cleaned = super().clean()
        member = self.instance
        if member.pk is not None and member.role == Role.ADMIN and cleaned.get("role") not in (None, Role.ADMIN):
            if _last_admin(member):
                self.add_error("role", LastAdminError().args[0])
        return cleaned


def _last_admin(member: Membership) -> bool:
    admins = Membership.objects.filter(organization_id=member.organization_id, role=Role.ADMIN)
    return list(admins.values_list("pk", flat=True)[:2]) == [member.pk]


class MembershipFormSet(forms.BaseInlineFormSet):
    """The members of one organization, edited together: at least one admin must remain."""

    def clean(self):
        super().clean()
        if any(self.errors) or self.instance.pk is None:
            return
        admins_before = Membership.objects.filter(organization=self.instance, role=Role.ADMIN).exists()
        remaining = 0
        for form in self.forms:
            if not form.has_changed() and form.instance.pk is None:
                continue
            if self.can_delete and self._should_delete_form(form):
                continue
            remaining += form.cleaned_data.get("role") == Role.ADMIN
        if admins_before and remaining == 0:
            raise forms.ValidationError(LastAdminError().args[0])


class MembershipInline(admin.TabularInline):
    """Members on their organization's page: its admins change roles and remove members; only a
    superuser adds an account directly, everyone else invites it (``InvitationAdmin``)."""

    model = Membership
    form = MembershipForm
    formset = MembershipFormSet
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
        return request_has_role(request, None)

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

    def save_formset(self, request, form, formset, change):
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        # Through the membership's own methods, which keep an admin and write the audit log;
        # additions and promotions first, so that the admin who remains is in place.
        formset.save(commit=False)
        for member in formset.new_objects:
            member.add(actor=request.user)
        for member, fields in sorted(formset.changed_objects, key=lambda pair: pair[0].role != Role.ADMIN):
            _save_member(member, fields, actor=request.user)
        for member in formset.deleted_objects:
            member.remove(actor=request.user)


@admin.register(Membership)
class MembershipAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    """An organization's admins manage who belongs to it, and only there: roles and removals. An
    account joins by accepting an invitation; only a superuser adds one directly."""

    view_role = Role.ADMIN
    write_role = Role.ADMIN
    form = MembershipForm
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role", ("organization", ScopedRelatedFieldListFilter))
    list_select_related = ("user", "organization")
    search_fields = ("user__username", "user__email", "organization__name")
    fields = ("organization", "user", "role", "created_at")
    readonly_fields = ("created_at",)

    def has_add_permission(self, request):
        return self.has_role(request, None)

    def save_model(self, request, obj, form, change):
        if change:
            _save_member(obj, form.changed_data, actor=request.user)
        else:
            obj.add(actor=request.user)

    def delete_model(self, request, obj):
        obj.remove(actor=request.user)

    def delete_queryset(self, request, queryset):
        for member in queryset.select_related("user"):
            member.remove(actor=request.user)

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        by_organization: dict[int, list[Membership]] = {}
        for member in objs:
            by_organization.setdefault(member.organization_id, []).append(member)
        for organization_id, members in by_organization.items():
            admins = set(Membership.objects.filter(organization_id=organization_id, role=Role.ADMIN).values_list("pk", flat=True))
            if admins and admins <= {m.pk for m in members}:
                protected = [*protected, f"{members[0].organization}: {LastAdminError().args[0]}"]
        return deleted, counts, perms_needed, protected


def _save_member(member: Membership, changed: list[str], *, actor) -> None:
    if "role" in changed:
        member.change_role(member.role, actor=actor)


class InvitationForm(OrganizationScopedForm):
    class Meta:
        model = Invitation
        fields = ("organization", "username", "role")


@admin.register(Invitation)
class InvitationAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    """An organization's admins invite accounts by username and revoke the invitations still
    pending; the account joins once it accepts. Whether an account has the username is never looked
    up, so no page here tells; inviting the same username again refreshes its pending invitation."""

    view_role = Role.ADMIN
    write_role = Role.ADMIN
    form = InvitationForm
    list_display = ("username", "organization", "role", "status", "expires_at", "created_by", "created_at")
    list_filter = ("status", "role", ("organization", ScopedRelatedFieldListFilter))
    list_select_related = ("organization", "created_by")
    search_fields = ("username", "organization__name")
    readonly_fields = ("status", "created_by", "created_at", "expires_at", "answered_at")
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        fields = ("organization", "username", "role")
        return fields if obj is None else (*fields, *self.readonly_fields)

    def has_change_permission(self, request, obj=None):
        return False  # answered or revoked, never edited

    def has_delete_permission(self, request, obj=None):
        return False  # revoked, and kept with its answer

    def has_revoke_permission(self, request):
        return self.has_role(request, self.write_role)

    def save_model(self, request, obj, form, change):
        obj.send(actor=request.user)

    @admin.action(description=_("Revoke the selected invitations"), permissions=["revoke"])
    def revoke(self, request, queryset):
        revoked = 0
        for invitation in queryset.pending():
            try:
                invitation.close(Invitation.Status.REVOKED, actor=request.user)
            except InvitationError:
                continue  # answered meanwhile
            revoked += 1
        message = ngettext("%(count)d invitation revoked.", "%(count)d invitations revoked.", revoked)
        self.message_user(request, message % {"count": revoked}, messages.SUCCESS)


@admin.register(ReceivedInvitation)
class ReceivedInvitationAdmin(admin.ModelAdmin):
    """The signed-in account's own invitations, still open, each with Accept and Decline."""

    list_display = ("organization", "role", "created_by", "expires_at", "answer_buttons")
    list_display_links = None
    list_select_related = ("organization", "created_by")

    def get_queryset(self, request):
        return super().get_queryset(request).addressed_to(request.user).answerable()

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        view = self.admin_site.admin_view(self.answer_view)
        return [
            path("<int:object_id>/accept/", view, {"answer": "accept"}, name="tenancy_receivedinvitation_accept"),
            path("<int:object_id>/decline/", view, {"answer": "decline"}, name="tenancy_receivedinvitation_decline"),
            *super().get_urls(),
        ]

    @admin.display(description=_("answer"))
    def answer_buttons(self, obj) -> str:
        # Buttons of the changelist's form, which carries the CSRF token: a form may not hold another.
        return format_html(
            '<button type="submit" class="button" formaction="{}">{}</button> '
            '<button type="submit" class="button" formaction="{}">{}</button>',
            reverse("admin:tenancy_receivedinvitation_accept", args=[obj.pk]),
            _("Accept"),
            reverse("admin:tenancy_receivedinvitation_decline", args=[obj.pk]),
            _("Decline"),
        )

    def answer_view(self, request, object_id: int, answer: str):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        # Not only the open ones: a stale page learns why its invitation cannot be answered any more.
        invitation = Invitation.objects.addressed_to(request.user).select_related("organization").filter(pk=object_id).first()
        if invitation is None:
            raise Http404(_("No invitation with this id."))
        try:
            if answer == "accept":
                accept_invitation(invitation, request.user)
                done = _("You are now a member of %(organization)s.")
            else:
                invitation.close(Invitation.Status.DECLINED, actor=request.user)
                done = _("You have declined the invitation to %(organization)s.")
        except InvitationError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, done % {"organization": invitation.organization}, messages.SUCCESS)
        return redirect("admin:tenancy_receivedinvitation_changelist")


class IssueTokenForm(forms.ModelForm):
    expires_in_days = forms.IntegerField(label=_("expires in, days"), min_value=1, max_value=settings.API_TOKEN_MAX_DAYS)

    class Meta:
        model = ApiToken
        fields = ("user", "name")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """API tokens. Anyone on the staff sees and revokes their own; an organization's admins also
    those of its members, and may issue tokens for them. The secret is shown once, on the page that
    follows the issue, and is never stored. Revoking is deleting; a token cannot be edited."""

    form = IssueTokenForm
    list_display = ("__str__", "user", "digest_prefix", "created", "expiry", "created_by")
    list_select_related = ("user", "created_by")
    search_fields = ("name", "user__username")
    readonly_fields = ("user", "name", "digest_prefix", "created", "expiry", "created_by")

    def get_queryset(self, request):
        return super().get_queryset(request).for_user(request.user)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(_("No API token with this id."))
        return obj

    def get_fields(self, request, obj=None):
        return ("user", "name", "expires_in_days") if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            return UserByUsernameField(label=_("user"), queryset=managed_users(request.user))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request):
        return {"user": request.user.get_username(), "expires_in_days": knox_settings.TOKEN_TTL.days}

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def delete_model(self, request, obj):
        obj.revoke(actor=request.user)

    def delete_queryset(self, request, queryset):
        for token in queryset.select_related("user"):
            token.revoke(actor=request.user)

    def save_model(self, request, obj, form, change):
        request.newvoice_token_secret = obj.issue(days=form.cleaned_data["expires_in_days"], issued_by=request.user)

    def response_add(self, request, obj, post_url_continue=None):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("API token issued"),
            "token": obj,
            "secret": request.newvoice_token_secret,
        }
        response = TemplateResponse(request, "admin/tenancy/apitoken/issued.html", context)
        # The page carries the secret: no browser or proxy may keep a copy.
        response["Cache-Control"] = "no-store"
        return response

    @admin.display(description=_("digest"))
    def digest_prefix(self, obj) -> str:
        return f"{obj.digest_prefix}…"


@admin.register(AuditEntry)
class AuditEntryAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    """The audit log. Its rows are written with the changes they describe and never edited or
    deleted; an organization's admins read its entries, superusers every one."""

    view_role = Role.ADMIN
    read_only = True
    list_display = ("created_at", "action", "object_repr", "actor_shown", "source", "organization", "reason")
    list_filter = ("action", "source", ("organization", ScopedRelatedFieldListFilter), "created_at")
    list_select_related = ("organization",)
    search_fields = ("object_repr", "object_id", "actor_name", "reason")
    date_hierarchy = "created_at"
    fields = (
        "created_at",
        "action",
        "actor_shown",
        "source",
        "ip",
        "organization",
        "subject_user",
        "object_type",
        "object_id",
        "object_repr",
        "before_shown",
        "after_shown",
        "reason",
    )
    readonly_fields = fields

    @admin.display(description=_("who"), ordering="actor_name")
    def actor_shown(self, obj) -> str:
        return obj.actor_name or obj.get_source_display()

    @admin.display(description=_("before"))
    def before_shown(self, obj) -> str:
        return _indented(obj.before)

    @admin.display(description=_("after"))
    def after_shown(self, obj) -> str:
        return _indented(obj.after)


def _indented(values: dict) -> str:
    return format_html("<pre>{}</pre>", json.dumps(values, ensure_ascii=False, indent=2, cls=DjangoJSONEncoder)) if values else "-"
