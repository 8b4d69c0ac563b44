from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from analytics.conversation import conversation
from analytics.models import CallMetrics, Price
from analytics.templatetags.analytics_format import money
from campaigns.admin import CallAdmin
from campaigns.models import Call, CallRecording
from campaigns.recordings import recording_response
from tenancy.admin_scoping import OrganizationScopedAdmin, ReadOnlyInline, ScopedRelatedFieldListFilter, request_has_role
from tenancy.models import Role
from tenancy.scoping import organization_ids

# Columns of CallMetrics worth reading at a glance; the rest is on its own page.
METRICS_SUMMARY = (
    "outcome",
    "talk_seconds",
    "turns",
    "first_greeting_ms",
    "latency_p50_ms",
    "latency_p95_ms",
    "interruptions",
    "total_cost",
    "sentiment_label",
    "last_step",
)
QA_FLAGS = {
    "dead_air": _("Dead air"),
    "bot_repeated": _("The bot repeated itself"),
    "asked_for_human": _("Asked for a human"),
}
SENTIMENTS = {"positive": _("positive"), "neutral": _("neutral"), "negative": _("negative")}


def total_cost(metrics: CallMetrics) -> str:
    """The call's cost, or "unpriced" with the reason as its tooltip: never a 0 that was not paid."""
    if not metrics.is_priced:
        return format_html('<span class="unpriced" title="{}">{}</span>', metrics.unpriced_reason, gettext("unpriced"))
    return f"{money(metrics.cost_total)} {metrics.currency}"


def conversation_link(call_id: int) -> str:
    url = reverse("admin:campaigns_call_conversation", args=[call_id])
    return format_html('<a href="{}">{}</a>', url, gettext("Conversation"))


@admin.register(CallMetrics)
class CallMetricsAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    """Written once when a call ends; the admin only shows it."""

    read_only = True
    list_display = (
        "call",
        "conversation_page",
        "campaign",
        "outcome",
        "talk_seconds",
        "latency_p50_ms",
        "latency_p95_ms",
        "total_cost",
        "sentiment_label",
        "ended",
    )
    list_filter = (
        "outcome",
        "is_simulated",
        "is_priced",
        "sentiment_label",
        ("campaign", ScopedRelatedFieldListFilter),
        ("organization", ScopedRelatedFieldListFilter),
    )
    list_select_related = ("call", "campaign")
    readonly_fields = ("total_cost", "conversation_page")
    fieldsets = (
        (
            None,
            {"fields": ("call", "conversation_page", "campaign", "skillbase", "skillbase_version", "outcome", "is_simulated", "ended_at")},
        ),
        (_("Durations, seconds"), {"fields": ("ring_seconds", "talk_seconds", "total_seconds")}),
        (_("Conversation"), {"fields": ("turns", "user_words", "bot_words", "interruptions", "false_interruptions")}),
        (
            _("Latency, milliseconds"),
            {"fields": ("first_greeting_ms", "latency_mean_ms", "latency_p50_ms", "latency_p95_ms", "latency_max_ms")},
        ),
        (
            _("Usage"),
            {"fields": ("llm_input_tokens", "llm_output_tokens", "tts_characters", "stt_seconds", "telephony_seconds")},
        ),
        (
            _("Cost"),
            {
                "fields": (
                    "total_cost",
                    "cost_stt",
                    "cost_llm",
                    "cost_tts",
                    "cost_telephony",
                    "currency",
                    "price_version",
                    "is_priced",
                    "unpriced_reason",
                )
            },
        ),
        (_("Quality"), {"fields": ("sentiment_score", "sentiment_label", "qa_flags", "last_step", "steps_reached", "collected")}),
    )

    class Media:
        css = {"all": ["analytics/admin.css"]}

    @admin.display(description=_("total cost"), ordering="cost_total")
    def total_cost(self, obj) -> str:
        return total_cost(obj)

    @admin.display(description=_("ended"), ordering="ended_at")
    def ended(self, obj) -> str:
        return date_format(timezone.localtime(obj.ended_at), "Y-m-d H:i:s") if obj.ended_at else "—"

    @admin.display(description=_("conversation"))
    def conversation_page(self, obj) -> str:
        return conversation_link(obj.call_id)


class CallMetricsInline(ReadOnlyInline, admin.StackedInline):
    model = CallMetrics
    fields = METRICS_SUMMARY
    readonly_fields = METRICS_SUMMARY

    @admin.display(description=_("total cost"))
    def total_cost(self, obj) -> str:
        return total_cost(obj)


# The call's page (campaigns owns the call and its events) also shows what analytics measured of it
# and the call as a conversation. Analytics depends on campaigns and not the other way round, so
# the measured view of the call is registered here, over campaigns' own.
admin.site.unregister(Call)


@admin.register(Call)
class MeasuredCallAdmin(CallAdmin):
    inlines = [CallMetricsInline, *CallAdmin.inlines]
    # The conversation right after the number: whatever the width, the link is on screen.
    list_display = ("phone", "conversation_page", *CallAdmin.list_display[1:])
    change_form_template = "admin/analytics/call/change_form.html"

    class Media:
        css = {"all": ["analytics/admin.css"]}

    @admin.display(description=_("conversation"))
    def conversation_page(self, obj) -> str:
        return conversation_link(obj.pk)

    def get_urls(self):
        view = self.admin_site.admin_view(self.conversation_view)
        audio = self.admin_site.admin_view(self.recording_view)
        return [
            path("<path:object_id>/conversation/", view, name="campaigns_call_conversation"),
            path("<path:object_id>/recording/", audio, name="campaigns_call_recording"),
            *super().get_urls(),
        ]

    def recording_view(self, request, object_id):
        """The call's recording, to those who may see the call (never a public media URL)."""
        call = self.get_object(request, object_id)
        if call is None or not self.has_view_permission(request, call):
            raise Http404(gettext("No such call."))
        recording = CallRecording.objects.filter(call=call).first()
        if recording is None:
            raise Http404(gettext("Call %(id)s has no recording.") % {"id": call.pk})
        return recording_response(request, recording)

    def conversation_view(self, request, object_id):
        """The call as a conversation, with its metrics and what it cost."""
        call = self.get_object(request, object_id)
        if not self.has_view_permission(request, call):
            raise PermissionDenied
        entries, cut = conversation(call)
        metrics = CallMetrics.objects.filter(call=call).first()
        recording = CallRecording.objects.filter(call=call).first()
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Conversation of call %(id)s") % {"id": call.pk},
            "opts": self.opts,
            "original": call,
            "entries": entries,
            "cut": cut,
            "metrics": metrics,
            "recording": recording,
            "sentiment": SENTIMENTS.get(metrics.sentiment_label, metrics.sentiment_label) if metrics else "",
            "qa_flags": [{"name": QA_FLAGS.get(f.get("flag"), f.get("flag")), **f} for f in (metrics.qa_flags if metrics else [])],
        }
        return TemplateResponse(request, "admin/analytics/call/conversation.html", context)


class PriceOwnerFilter(admin.SimpleListFilter):
    title = _("whose price")
    parameter_name = "whose"

    def lookups(self, request, model_admin):
        return [("list", _("List prices")), ("own", _("Organizations' own prices"))]

    def queryset(self, request, queryset):
        if self.value() == "list":
            return queryset.filter(organization=None)
        if self.value() == "own":
            return queryset.exclude(organization=None)
        return queryset


PRICE_HELP = {
    "effective_from": _(
        "The price counts for calls that end on this day or later, until a row with a later date for the same component, "
        "provider and model. Calls are priced when they end: a price changed or added later does not reprice calls already "
        "measured."
    ),
    "amount": _(
        "Per the unit below. A provider or model with no price in effect on a call's day leaves that call unpriced: "
        "it is shown as “unpriced” with the reason, never as free."
    ),
    "currency": _("Calls are counted in %(currency)s; a price in another currency leaves its calls unpriced."),
    "model": _("Empty: every model of the provider that has no price of its own."),
}


@admin.register(Price)
class PriceAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    """The price table. List prices (no organization) apply to everyone and only superusers edit
    them; an organization's admins set the organization's own prices, which win over the list
    price from their effective date on."""

    write_role = Role.ADMIN
    list_display = ("component", "provider", "model", "amount", "currency", "unit", "effective_from", "whose", "note")
    list_filter = ("component", "provider", PriceOwnerFilter, "currency")
    list_select_related = ("organization",)
    search_fields = ("provider", "model", "note")
    fieldsets = (
        (None, {"fields": ("organization", "component", "provider", "model")}),
        (_("Price"), {"fields": ("amount", "currency", "unit", "effective_from", "note")}),
    )

    def get_queryset(self, request):
        # Every member reads the list prices: their calls are priced with them.
        rows = admin.ModelAdmin.get_queryset(self, request).select_related("organization")
        if request.user.is_superuser:
            return rows
        return rows.filter(Q(organization=None) | Q(organization_id__in=organization_ids(request.user)))

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.organization_id is None:
            return request_has_role(request, None)
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.organization_id is None:
            return request_has_role(request, None)
        return super().has_delete_permission(request, obj)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name in PRICE_HELP:
            kwargs["help_text"] = PRICE_HELP[db_field.name] % {"currency": settings.NEWVOICE_CURRENCY}
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "organization" and not request.user.is_superuser:
            # Only a superuser sets list prices; an organization's admin sets their own.
            kwargs["required"] = True
            kwargs["help_text"] = _("Your organization's own price: it wins over the list price from its effective date.")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description=_("organization"), ordering="organization__name")
    def whose(self, obj) -> str:
        return obj.organization.name if obj.organization_id else gettext("List price")
