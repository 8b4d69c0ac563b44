from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from analytics.models import CallLog, CallMetrics
from campaigns.admin import CallAdmin
from campaigns.models import Call
from newvoice.admin_scoping import OrganizationScopedAdmin, ReadOnlyInline, ScopedRelatedFieldListFilter

# Columns of CallMetrics worth reading at a glance; the rest is on its own page.
METRICS_SUMMARY = (
    "outcome",
    "talk_seconds",
    "turns",
    "first_greeting_ms",
    "latency_p50_ms",
    "latency_p95_ms",
    "interruptions",
    "cost_total",
    "currency",
    "sentiment_label",
    "last_step",
)


@admin.register(CallMetrics)
class CallMetricsAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    """Written once when a call ends; the admin only shows it."""

    read_only = True
    list_display = (
        "call",
        "campaign",
        "outcome",
        "talk_seconds",
        "latency_p50_ms",
        "latency_p95_ms",
        "cost_total",
        "currency",
        "sentiment_label",
        "ended_at",
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
    fieldsets = (
        (None, {"fields": ("call", "campaign", "skillbase", "skillbase_version", "outcome", "is_simulated", "ended_at")}),
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
                    "cost_stt",
                    "cost_llm",
                    "cost_tts",
                    "cost_telephony",
                    "cost_total",
                    "currency",
                    "price_version",
                    "is_priced",
                    "unpriced_reason",
                )
            },
        ),
        (_("Quality"), {"fields": ("sentiment_score", "sentiment_label", "qa_flags", "last_step", "steps_reached", "collected")}),
    )


@admin.register(CallLog)
class CallLogAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    """A call's events and transcript, written by the agent as the call goes."""

    read_only = True
    list_display = ("call", "seq", "kind", "role", "short_text", "offset_ms", "created_at")
    list_filter = ("kind", "role")
    list_select_related = ("call",)
    fields = ("call", "campaign", "seq", "kind", "role", "text", "data", "offset_ms", "created_at")

    @admin.display(description=_("text"))
    def short_text(self, obj) -> str:
        return Truncator(obj.text).chars(80)


class CallMetricsInline(ReadOnlyInline, admin.StackedInline):
    model = CallMetrics
    fields = METRICS_SUMMARY
    readonly_fields = METRICS_SUMMARY


class CallLogInline(ReadOnlyInline, admin.TabularInline):
    model = CallLog
    fields = ("seq", "offset_ms", "kind", "role", "text")
    readonly_fields = fields
    max_rows = 200
    verbose_name_plural = _("events (the first 200)")


# A call's page shows its metrics and events. Those live in this app, which depends on campaigns
# and not the other way round, so the call admin is extended here rather than there.
admin.site.unregister(Call)


@admin.register(Call)
class CallWithEventsAdmin(CallAdmin):
    inlines = [CallMetricsInline, CallLogInline]
    fieldsets = (*CallAdmin.fieldsets, (_("Events"), {"fields": ("events_link",)}))
    readonly_fields = ("events_link",)

    @admin.display(description=_("all events"))
    def events_link(self, obj) -> str:
        url = reverse("admin:analytics_calllog_changelist") + f"?call__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("All events of this call"))
