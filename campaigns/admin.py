import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from campaigns.actions import add_to_do_not_call, remove_from_do_not_call
from campaigns.admin_contacts import ContactFilesMixin, DoNotCallImportMixin
from campaigns.models import Call, CallLog, CallTask, Campaign, ContactImport, DoNotCallEntry, Outcome
from campaigns.operations import monitor_labels, operations
from skillbases.outcomes import RETRYABLE
from tenancy.admin_scoping import OrganizationScopedAdmin, OrganizationScopedForm, ReadOnlyInline, ScopedRelatedFieldListFilter
from tenancy.models import AuditEntry, Role
from tenancy.scoping import has_role

# Tasks that will not be called again.
DONE_STATUSES = (CallTask.Status.COMPLETED, CallTask.Status.FAILED, CallTask.Status.CANCELLED)


def _task_count(*statuses: str):
    # A correlated subquery per column rather than JOIN + GROUP BY: the changelist's COUNT(*)
    # then ignores it instead of aggregating every task of every campaign.
    tasks = CallTask.objects.filter(campaign=OuterRef("pk"), status__in=statuses).order_by().values("campaign")
    return Coalesce(Subquery(tasks.annotate(n=Count("pk")).values("n")), 0)


def _dialer_choices():
    return [("", _("The installation's default")), *((name, name) for name in settings.NEWVOICE_DIALERS)]


WEEKDAYS = [(1, _("Mon")), (2, _("Tue")), (3, _("Wed")), (4, _("Thu")), (5, _("Fri")), (6, _("Sat")), (7, _("Sun"))]


class RetryPolicyWidget(forms.Widget):
    """The retry policy as a table: each outcome that may be retried, whether it is, after how long.
    A posted ``retry_policy`` JSON (a script's form post) is taken as it is."""

    template_name = "campaigns/retry_policy_widget.html"

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        try:
            policy = json.loads(value) if isinstance(value, str) else (value or {})
        except json.JSONDecodeError:
            policy = {}
        labels = dict(Outcome.choices)
        rows = []
        for outcome in RETRYABLE:
            rule = policy.get(outcome) if isinstance(policy, dict) else None
            rule = rule if isinstance(rule, dict) else {}
            retried = bool(rule) and rule.get("retry", True) is not False
            rows.append(
                {"outcome": outcome, "label": labels.get(outcome, outcome), "retry": retried, "delay": rule.get("delay_minutes", "")}
            )
        context["widget"]["rows"] = rows
        return context

    def value_from_datadict(self, data, files, name):
        if name in data:
            return data[name]
        if not any(key.startswith(f"{name}-") for key in data):
            return None
        policy = {}
        for outcome in RETRYABLE:
            if data.get(f"{name}-{outcome}-retry"):
                delay = (data.get(f"{name}-{outcome}-delay") or "").strip()
                policy[outcome] = {"retry": True, "delay_minutes": int(delay) if delay.isdigit() else (delay or 60)}
        return json.dumps(policy)


class CampaignForm(OrganizationScopedForm):
    dialer = forms.ChoiceField(label=_("dialer"), choices=_dialer_choices, required=False)
    calling_days = forms.TypedMultipleChoiceField(
        label=_("calling days"), choices=WEEKDAYS, coerce=int, widget=forms.CheckboxSelectMultiple(attrs={"class": "weekday-boxes"})
    )
    retry_policy = forms.JSONField(
        label=_("retry policy"),
        required=False,
        widget=RetryPolicyWidget,
        help_text=_("Outcomes not ticked are final. Delays are in minutes; other outcomes are never retried."),
    )

    def clean_calling_days(self):
        return sorted(set(self.cleaned_data["calling_days"]))

    def clean_retry_policy(self):
        return self.cleaned_data["retry_policy"] or {}


class ContactImportInline(ReadOnlyInline, admin.TabularInline):
    model = ContactImport
    verbose_name_plural = _("contact imports")
    fields = ("report_link", "status", "progress_shown", "imported", "invalid", "dry_run", "created_by", "created_at")
    readonly_fields = fields
    max_rows = 10

    @admin.display(description=_("file"))
    def report_link(self, obj):
        url = reverse("admin:campaigns_campaign_import_report", args=[obj.campaign_id, obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.filename)

    @admin.display(description=_("progress"))
    def progress_shown(self, obj):
        return f"{obj.progress:.0%}"

    @admin.display(description=_("imported"))
    def imported(self, obj):
        return (obj.report or {}).get("imported", "")

    @admin.display(description=_("invalid"))
    def invalid(self, obj):
        return (obj.report or {}).get("invalid", "")


def _control(verb: str, label):
    """An admin action that moves the selected campaigns with a model method and reports each."""

    def action(modeladmin, request, queryset):
        for campaign in queryset:
            if not modeladmin.has_change_permission(request, campaign):
                modeladmin.message_user(request, _("%(name)s: your role does not allow this.") % {"name": campaign}, messages.ERROR)
                continue
            problem = run_control(campaign, verb, user=request.user)
            level = messages.ERROR if problem else messages.SUCCESS
            modeladmin.message_user(request, f"{campaign}: {problem or CONTROL_DONE[verb]}", level)

    action.__name__ = f"{verb}_campaigns"
    return admin.action(description=label)(action)


CONTROL_DONE = {"start": _("started."), "pause": _("paused."), "resume": _("resumed."), "cancel": _("cancelled.")}


def run_control(campaign: Campaign, verb: str, *, user=None, override_tests: bool = False) -> str:
    """Apply start/pause/resume/cancel; the reason it did not happen, or an empty string."""
    return " ".join(campaign.control(verb, user=user, override_tests=override_tests))


@admin.register(Campaign)
class CampaignAdmin(ContactFilesMixin, OrganizationScopedAdmin, admin.ModelAdmin):
    form = CampaignForm
    list_display = (
        "name",
        "organization",
        "skillbase",
        "status",
        "calls_per_minute",
        "max_concurrent_calls",
        "pending_tasks",
        "done_tasks",
        "created_at",
    )
    list_filter = ("status", ("organization", ScopedRelatedFieldListFilter), ("skillbase", ScopedRelatedFieldListFilter))
    list_select_related = ("organization", "skillbase")
    search_fields = ("name",)
    # The state machine moves the status (start validates first), never a form.
    readonly_fields = ("status", "status_reason", "created_by", "created_at", "updated_at", "started_at", "finished_at")
    fieldsets = (
        (None, {"fields": ("organization", "name", "skillbase", "status", "status_reason", "dialer")}),
        (_("Pacing"), {"fields": ("calls_per_minute", "max_concurrent_calls")}),
        (
            _("Calling window"),
            {
                "description": _(
                    "Times are at the campaign's own clock (its time zone); each contact is called within the window at theirs."
                ),
                "fields": (
                    "calling_days",
                    ("calling_window_start", "calling_window_end"),
                    "default_timezone",
                    "default_region",
                    ("starts_at", "ends_at"),
                ),
            },
        ),
        (_("Retries and safety"), {"fields": ("max_attempts", "retry_policy", "budget_cap", "failure_threshold", "failure_window")}),
        (_("Telephony"), {"fields": ("caller_id", "sip_trunk_id")}),
        (_("Simulator"), {"fields": ("simulator_audio", "simulator_personas", "simulator_seed"), "classes": ("collapse",)}),
        (_("History"), {"fields": ("created_by", "created_at", "updated_at", "started_at", "finished_at"), "classes": ("collapse",)}),
    )

    inlines = [ContactImportInline]
    actions = [
        _control("start", _("Start the selected campaigns")),
        _control("pause", _("Pause the selected campaigns")),
        _control("resume", _("Resume the selected campaigns")),
        _control("cancel", _("Cancel the selected campaigns")),
    ]

    def get_urls(self):
        control = path(
            "<path:object_id>/control/<str:verb>/", self.admin_site.admin_view(self.control_view), name="campaigns_campaign_control"
        )
        return [control, *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        controls = [
            ("start", _("Start"), ("draft",), _("Start calling this campaign's contacts now?")),
            ("pause", _("Pause"), ("running",), _("Pause the campaign? Calls in progress finish; no new ones are placed.")),
            ("resume", _("Resume"), ("paused",), _("Resume calling?")),
            ("cancel", _("Cancel campaign"), ("draft", "running", "paused"),
             _("Cancel the campaign for good? Its waiting contacts will not be called; this cannot be undone.")),
        ]  # fmt: skip
        context = {**(extra_context or {}), "controls": controls, "failing_tests": self._failing_tests(request, object_id)}
        campaign = self.get_object(request, object_id)
        if campaign is not None:
            context.update(ops=operations(campaign), monitor_labels=monitor_labels(), currency=settings.NEWVOICE_CURRENCY)
            if (version := campaign.skillbase.current_version) is not None:
                context["flow_calls_url"] = reverse("analytics-flow") + f"?campaign={campaign.pk}&version={version.pk}"
            # The campaign's start and end are read and written at its own clock, as its window is.
            with timezone.override(campaign.default_timezone):
                return super().change_view(request, object_id, form_url, context)
        return super().change_view(request, object_id, form_url, context)

    def _failing_tests(self, request, object_id) -> dict | None:
        """For an admin of the organization: the start (or resume) that overrides the skillbase
        version's failing test conversations, when they fail."""
        campaign = self.get_object(request, object_id)
        if campaign is None or not has_role(request.user, campaign.organization_id, Role.ADMIN):
            return None
        version = campaign.skillbase.current_version
        run = version.latest_test_run() if version else None
        if run is None or run.status not in (run.Status.FAILED, run.Status.ERROR):
            return None
        return {"verb": "resume" if campaign.status == Campaign.Status.PAUSED else "start", "summary": run.summary()}

    def control_view(self, request, object_id, verb):
        campaign = self.get_object(request, object_id)
        if request.method != "POST" or verb not in CONTROL_DONE:
            raise Http404
        if not self.has_change_permission(request, campaign):
            raise PermissionDenied
        override = verb in ("start", "resume") and request.POST.get("override_tests") == "1"
        problem = run_control(campaign, verb, user=request.user, override_tests=override)
        self.message_user(request, f"{campaign}: {problem or CONTROL_DONE[verb]}", messages.ERROR if problem else messages.SUCCESS)
        return redirect("admin:campaigns_campaign_change", campaign.pk)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset.annotate(pending_task_count=_task_count(CallTask.Status.PENDING), done_task_count=_task_count(*DONE_STATUSES))

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description=_("pending"), ordering="pending_task_count")
    def pending_tasks(self, obj) -> int:
        return obj.pending_task_count

    @admin.display(description=_("done"), ordering="done_task_count")
    def done_tasks(self, obj) -> int:
        return obj.done_task_count


class CallInline(ReadOnlyInline, admin.TabularInline):
    model = Call
    fields = ("attempt", "status", "outcome", "dialer", "created_at", "answered_at", "ended_at")
    readonly_fields = fields
    max_rows = 50


class CallTaskForm(OrganizationScopedForm):
    def clean(self):
        cleaned_data = super().clean()
        phone, organization_id = cleaned_data.get("phone"), self.instance.organization_id
        if phone and organization_id and "phone" in self.changed_data:
            if DoNotCallEntry.objects.filter(organization_id=organization_id, phone=phone).exists():
                self.add_error("phone", _("This number is on the organization's do-not-call list."))
        return cleaned_data


@admin.register(CallTask)
class CallTaskAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    form = CallTaskForm
    organization_from = "campaign"
    list_display = ("phone", "name", "campaign", "status", "outcome", "attempts", "next_attempt_at")
    list_filter = ("status", "outcome", ("campaign", ScopedRelatedFieldListFilter), ("organization", ScopedRelatedFieldListFilter))
    list_select_related = ("campaign",)
    search_fields = ("phone", "name")
    # The dispatcher and the calls own the progress; a form only adds or corrects a contact.
    readonly_fields = (
        "other_numbers", "number_dialled_next", "status", "outcome", "attempts", "last_attempt_at", "result", "source_row",
        "created_at", "updated_at",
    )  # fmt: skip
    fieldsets = (
        (None, {"fields": ("campaign", "phone", "other_numbers", "name", "variables", "timezones", "next_attempt_at")}),
        (_("Progress"), {"fields": ("number_dialled_next", "status", "outcome", "attempts", "last_attempt_at", "result")}),
        (_("Dates"), {"fields": ("source_row", "created_at", "updated_at"), "classes": ("collapse",)}),
    )
    inlines = [CallInline]

    @admin.display(description=_("other numbers"))
    def other_numbers(self, task: CallTask) -> str:
        return ", ".join(task.other_phones) or "—"

    @admin.display(description=_("number dialled next"))
    def number_dialled_next(self, task: CallTask) -> str:
        return task.number_to_dial if task.pk else "—"


class CallLogInline(ReadOnlyInline, admin.TabularInline):
    model = CallLog
    fields = ("seq", "offset_ms", "kind", "role", "text")
    readonly_fields = fields
    max_rows = 200
    verbose_name_plural = _("events (the first 200)")


@admin.register(CallLog)
class CallLogAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    """A call's events and transcript, written by the agent and the engine as the call goes."""

    read_only = True
    list_display = ("call", "seq", "kind", "role", "short_text", "offset_ms", "created_at")
    list_filter = ("kind", "role")
    list_select_related = ("call",)
    fields = ("call", "campaign", "seq", "kind", "role", "text", "data", "offset_ms", "created_at")

    @admin.display(description=_("text"))
    def short_text(self, obj) -> str:
        return Truncator(obj.text).chars(80)


@admin.register(Call)
class CallAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    """Calls are written by the dialer and the agent; the admin only shows them."""

    read_only = True
    list_display = ("phone", "contact", "campaign", "status", "outcome", "started", "talk_time")
    list_filter = (
        "status",
        "outcome",
        "is_simulated",
        ("campaign", ScopedRelatedFieldListFilter),
        ("organization", ScopedRelatedFieldListFilter),
    )
    list_select_related = ("campaign", "task")
    search_fields = ("phone", "task__name")
    fieldsets = (
        (None, {"fields": ("campaign", "task", "phone", "attempt", "skillbase_version", "status", "outcome", "dialer")}),
        (_("Conversation"), {"fields": ("last_step", "collected", "callback_at", "error", "unmeasured_reason")}),
        (_("Telephony"), {"fields": ("is_simulated", "persona", "room_name", "sip_call_id", "sip_status_code")}),
        (_("Timing"), {"fields": ("created_at", "dial_started_at", "answered_at", "ended_at", "duration")}),
        (_("Lease"), {"fields": ("lease_owner", "lease_expires_at"), "classes": ("collapse",)}),
        (_("Events"), {"fields": ("events_link",)}),
    )
    readonly_fields = ("events_link",)
    inlines = [CallLogInline]

    @admin.display(description=_("contact"), ordering="task__name")
    def contact(self, obj) -> str:
        return obj.task.name or "—"

    @admin.display(description=_("queued"), ordering="created_at")
    def started(self, obj) -> str:
        return date_format(timezone.localtime(obj.created_at), "Y-m-d H:i:s")

    @admin.display(description=_("talk time"))
    def talk_time(self, obj) -> str:
        """Answer to hang-up, minutes:seconds; the one duration a list shows."""
        if not (obj.answered_at and obj.ended_at):
            return "—"
        minutes, seconds = divmod(round((obj.ended_at - obj.answered_at).total_seconds()), 60)
        return f"{minutes}:{seconds:02d}"

    @admin.display(description=_("all events"))
    def events_link(self, obj) -> str:
        url = reverse("admin:campaigns_calllog_changelist") + f"?call__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("All events of this call"))


@admin.register(DoNotCallEntry)
class DoNotCallEntryAdmin(DoNotCallImportMixin, OrganizationScopedAdmin, admin.ModelAdmin):
    list_display = ("phone", "organization", "reason", "source", "created_by", "created_at")
    list_filter = ("source", ("organization", ScopedRelatedFieldListFilter))
    list_select_related = ("organization", "created_by")
    search_fields = ("phone", "reason")
    fields = ("organization", "phone", "reason", "source", "created_by", "created_at")
    readonly_fields = ("created_by", "created_at")

    def get_readonly_fields(self, request, obj=None):
        # Another number is another entry: adding it cancels that number's pending tasks.
        readonly = super().get_readonly_fields(request, obj)
        return readonly if obj is None else [*readonly, "phone"]

    def save_model(self, request, obj, form, change):
        if change:
            fields = self.changed_model_fields(obj, form)
            super().save_model(request, obj, form, change)
            if fields:
                before, after = {f: form.initial.get(f) for f in fields}, {f: getattr(obj, f) for f in fields}
                AuditEntry.objects.record(AuditEntry.Action.DNC_CHANGED, obj, actor=request.user, before=before, after=after)
            return
        entry, cancelled = add_to_do_not_call(obj.organization_id, obj.phone, reason=obj.reason, source=obj.source, user=request.user)
        obj.pk, obj._state.adding = entry.pk, False
        if cancelled:
            message = ngettext(
                "%(count)d pending task of this number was cancelled.", "%(count)d pending tasks of this number were cancelled.", cancelled
            )
            self.message_user(request, message % {"count": cancelled}, messages.INFO)

    def delete_model(self, request, obj):
        remove_from_do_not_call(obj, user=request.user)

    def delete_queryset(self, request, queryset):
        for entry in queryset:
            remove_from_do_not_call(entry, user=request.user)


@admin.register(ContactImport)
class ContactImportAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    """Background contact imports and their reports, written by the import task."""

    read_only = True
    list_display = ("filename", "campaign", "status", "dry_run", "rows_processed", "created_by", "created_at", "finished_at")
    list_filter = ("status", "dry_run", ("campaign", ScopedRelatedFieldListFilter))
    list_select_related = ("campaign", "created_by")
    search_fields = ("filename",)
    fields = (
        "campaign",
        "filename",
        "size",
        "region",
        "dry_run",
        "status",
        "rows_processed",
        "bytes_processed",
        "report",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    )
