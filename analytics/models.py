from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from campaigns.models import Call, Campaign, Outcome
from skillbases.models import Skillbase, SkillbaseVersion
from tenancy.scoping import OwnedModel

MONEY = {"max_digits": 14, "decimal_places": 6, "null": True, "blank": True}


class CallMetrics(OwnedModel):
    """Everything measured about one call, written when it ends. Aggregates read only this table,
    so the campaign, skillbase and version are copied here and indexed."""

    call = models.OneToOneField(Call, on_delete=models.CASCADE, related_name="metrics", verbose_name=_("call"))
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+", verbose_name=_("campaign"))
    skillbase = models.ForeignKey(Skillbase, on_delete=models.CASCADE, related_name="+", verbose_name=_("skillbase"))
    skillbase_version = models.ForeignKey(
        SkillbaseVersion, on_delete=models.RESTRICT, related_name="+", verbose_name=_("skillbase version")
    )
    outcome = models.CharField(_("outcome"), max_length=24, choices=Outcome.choices)
    is_simulated = models.BooleanField(_("simulated"), default=False)
    ended_at = models.DateTimeField(_("ended"))

    # Durations in seconds
    ring_seconds = models.FloatField(_("ringing"), null=True, blank=True)
    talk_seconds = models.FloatField(_("talk time"), null=True, blank=True)
    total_seconds = models.FloatField(_("total"), null=True, blank=True)

    # Conversation
    turns = models.PositiveIntegerField(_("turns"), default=0)
    user_words = models.PositiveIntegerField(_("callee words"), default=0)
    bot_words = models.PositiveIntegerField(_("bot words"), default=0)
    interruptions = models.PositiveIntegerField(_("interruptions"), default=0)
    false_interruptions = models.PositiveIntegerField(_("false interruptions"), default=0)

    # Latency in milliseconds: end of callee speech to the bot starting to speak
    first_greeting_ms = models.FloatField(_("first greeting latency"), null=True, blank=True)
    latency_mean_ms = models.FloatField(_("mean latency"), null=True, blank=True)
    latency_p50_ms = models.FloatField(_("p50 latency"), null=True, blank=True)
    latency_p95_ms = models.FloatField(_("p95 latency"), null=True, blank=True)
    latency_max_ms = models.FloatField(_("max latency"), null=True, blank=True)

    # Usage
    llm_input_tokens = models.PositiveIntegerField(_("LLM input tokens"), default=0)
    llm_output_tokens = models.PositiveIntegerField(_("LLM output tokens"), default=0)
    tts_characters = models.PositiveIntegerField(_("TTS characters"), default=0)
    stt_seconds = models.FloatField(_("STT seconds"), default=0)
    tts_seconds = models.FloatField(_("TTS seconds"), default=0)
    telephony_seconds = models.FloatField(_("telephony seconds"), default=0)

    # Cost. NULL components with is_priced=False mean "no price known", never zero.
    cost_stt = models.DecimalField(_("STT cost"), **MONEY)
    cost_llm = models.DecimalField(_("LLM cost"), **MONEY)
    cost_tts = models.DecimalField(_("TTS cost"), **MONEY)
    cost_telephony = models.DecimalField(_("telephony cost"), **MONEY)
    cost_total = models.DecimalField(_("total cost"), **MONEY)
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    price_version = models.CharField(_("price version"), max_length=64, blank=True)
    is_priced = models.BooleanField(_("priced"), default=False)
    unpriced_reason = models.CharField(_("why unpriced"), max_length=500, blank=True)
    usage = models.JSONField(_("usage by provider"), default=list, blank=True)

    # Quality
    sentiment_score = models.FloatField(_("sentiment score"), null=True, blank=True)
    sentiment_label = models.CharField(_("sentiment"), max_length=16, blank=True)
    sentiment_source = models.CharField(
        _("sentiment by"),
        max_length=16,
        blank=True,
        help_text=_("“lexicon” out of the box; “llm” once the skillbase's language model has read the call."),
    )
    qa_flags = models.JSONField(_("QA flags"), default=list, blank=True)
    last_step = models.CharField(_("last step"), max_length=64, blank=True)
    steps_reached = models.JSONField(_("steps reached"), default=list, blank=True)
    collected = models.JSONField(_("collected fields"), default=dict, blank=True)

    class Meta:
        verbose_name = _("call metrics")
        verbose_name_plural = _("call metrics")
        ordering = ["-ended_at"]
        indexes = [
            models.Index(fields=["organization", "ended_at"], name="metrics_org_ended_idx"),
            models.Index(fields=["campaign", "ended_at"], name="metrics_campaign_ended_idx"),
            models.Index(fields=["skillbase_version", "ended_at"], name="metrics_version_ended_idx"),
        ]

    def __str__(self) -> str:
        return f"Metrics of call {self.call_id}"


class StepReached(models.Model):
    """One flow step a call went through: the step funnel counts these rows."""

    metrics = models.ForeignKey(CallMetrics, on_delete=models.CASCADE, related_name="step_rows", verbose_name=_("call metrics"))
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    skillbase_version = models.ForeignKey(SkillbaseVersion, on_delete=models.CASCADE, related_name="+")
    step = models.CharField(_("step"), max_length=64)
    position = models.PositiveSmallIntegerField(_("position"))
    ended_at = models.DateTimeField(_("ended"))

    class Meta:
        verbose_name = _("step reached")
        verbose_name_plural = _("steps reached")
        constraints = [models.UniqueConstraint(fields=["metrics", "step"], name="stepreached_unique_step")]
        indexes = [
            models.Index(fields=["organization", "ended_at", "step"], name="step_org_ended_idx"),
            models.Index(fields=["campaign", "step"], name="step_campaign_idx"),
        ]

    def __str__(self) -> str:
        return self.step


def default_currency() -> str:
    return settings.NEWVOICE_CURRENCY


class Price(models.Model):
    """A provider's price for one component, from a date on. The price of a call is the newest row
    in effect on the call's day: an organization's own row first, else the list price. A provider
    or model with no row leaves the call unpriced, never free."""

    class Component(models.TextChoices):
        LLM_INPUT = "llm_input", _("LLM input tokens")
        LLM_OUTPUT = "llm_output", _("LLM output tokens")
        STT = "stt", _("Speech-to-text")
        TTS = "tts", _("Text-to-speech")
        TELEPHONY = "telephony", _("Telephony")

    class Unit(models.TextChoices):
        MILLION_TOKENS = "1m_tokens", _("per million tokens")
        MILLION_CHARACTERS = "1m_characters", _("per million characters")
        MINUTE = "minute", _("per minute")

    organization = models.ForeignKey(
        "tenancy.Organization",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("organization"),
        help_text=_("Leave empty for the list price every organization pays."),
    )
    component = models.CharField(_("component"), max_length=16, choices=Component.choices)
    provider = models.CharField(_("provider"), max_length=32)
    model = models.CharField(_("model"), max_length=100, blank=True, help_text=_("Empty: every model of the provider."))
    unit = models.CharField(_("unit"), max_length=16, choices=Unit.choices)
    amount = models.DecimalField(_("price"), max_digits=14, decimal_places=6)
    currency = models.CharField(
        _("currency"),
        max_length=3,
        default=default_currency,
        validators=[RegexValidator(r"^[A-Z]{3}$", _("A three-letter ISO 4217 code in capitals, e.g. USD or RUB."))],
    )
    effective_from = models.DateField(_("effective from"))
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("price")
        verbose_name_plural = _("prices")
        ordering = ["component", "provider", "model", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "component", "provider", "model", "effective_from"],
                name="price_unique_per_day",
            ),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="price_not_negative"),
        ]

    # What each component's usage is measured in: a price in another unit could never be applied.
    UNITS = {
        Component.LLM_INPUT: {Unit.MILLION_TOKENS},
        Component.LLM_OUTPUT: {Unit.MILLION_TOKENS},
        Component.STT: {Unit.MINUTE},
        Component.TTS: {Unit.MINUTE, Unit.MILLION_CHARACTERS},
        Component.TELEPHONY: {Unit.MINUTE},
    }

    def __str__(self) -> str:
        what = f"{self.provider}/{self.model}" if self.model else self.provider
        return f"{self.get_component_display()} {what}: {self.amount} {self.currency} {self.get_unit_display()}"

    def clean(self):
        super().clean()
        allowed = self.UNITS.get(self.component)
        if allowed and self.unit not in allowed:
            names = ", ".join(str(Price.Unit(unit).label) for unit in sorted(allowed))
            raise ValidationError(
                {"unit": _("%(component)s is priced %(units)s.") % {"component": self.get_component_display(), "units": names}}
            )
        # The database cannot refuse two list prices of one day (an empty organization never equals
        # another), and which of them applies would be a guess.
        same = Price.objects.filter(
            organization=self.organization,
            component=self.component,
            provider=self.provider,
            model=self.model,
            effective_from=self.effective_from,
        ).exclude(pk=self.pk)
        if same.exists():
            raise ValidationError({"effective_from": _("This component already has a price from that day; edit that one.")})


class DailyCallStats(OwnedModel):
    """The calls of one campaign, skillbase version, outcome and day, summed when each is measured:
    reports over many calls read these instead of every call. Days are counted in
    ``NEWVOICE_REPORT_TIMEZONE``. Latency percentiles keep a histogram (buckets 2% wide)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    skillbase = models.ForeignKey(Skillbase, on_delete=models.CASCADE, related_name="+")
    skillbase_version = models.ForeignKey(SkillbaseVersion, on_delete=models.CASCADE, related_name="+")
    day = models.DateField(_("day"))
    outcome = models.CharField(_("outcome"), max_length=24, choices=Outcome.choices)
    is_simulated = models.BooleanField(_("simulated"), default=False)
    calls = models.IntegerField(default=0)
    answered = models.IntegerField(default=0)
    latency_turns = models.IntegerField(default=0)
    latency_weighted = models.FloatField(default=0)
    cost_total = models.DecimalField(max_digits=18, decimal_places=6, default=0)
    unpriced_calls = models.IntegerField(default=0)
    talk_seconds = models.FloatField(default=0)
    talk_calls = models.IntegerField(default=0)
    total_seconds = models.FloatField(default=0)
    total_calls = models.IntegerField(default=0)
    interruptions = models.IntegerField(default=0)
    flagged_calls = models.IntegerField(default=0)
    latency_p50_histogram = models.JSONField(default=dict)
    latency_p95_histogram = models.JSONField(default=dict)
    greeting_histogram = models.JSONField(default=dict)

    class Meta:
        verbose_name = _("daily call figures")
        verbose_name_plural = _("daily call figures")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "skillbase_version", "day", "outcome", "is_simulated"], name="dailycallstats_unique_key"
            )
        ]
        indexes = [models.Index(fields=["organization", "day"], name="dailycallstats_org_day_idx")]


class DailyStepStats(OwnedModel):
    """How many calls of a campaign and skillbase version reached a flow step on one day."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    skillbase_version = models.ForeignKey(SkillbaseVersion, on_delete=models.CASCADE, related_name="+")
    day = models.DateField(_("day"))
    is_simulated = models.BooleanField(_("simulated"), default=False)
    step = models.CharField(_("step"), max_length=64)
    calls = models.IntegerField(default=0)
    position_sum = models.IntegerField(default=0)

    class Meta:
        verbose_name = _("daily step figures")
        verbose_name_plural = _("daily step figures")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "skillbase_version", "day", "is_simulated", "step"], name="dailystepstats_unique_key"
            )
        ]
        indexes = [models.Index(fields=["organization", "day"], name="dailystepstats_org_day_idx")]
