from django.core.exceptions import ObjectDoesNotExist
from rest_framework import serializers

from analytics.models import CallMetrics
from analytics.reports import GROUPS
from campaigns.models import Call, CallLog, Campaign
from campaigns.models.campaign import FIRST_YEAR, LAST_YEAR
from skillbases.models import Skillbase, SkillbaseVersion
from tenancy.api import VisibleRowField
from tenancy.models import Organization


class CallMetricsSerializer(serializers.ModelSerializer):
    class Meta:
        model = CallMetrics
        exclude = ["id"]
        read_only_fields = [field.name for field in CallMetrics._meta.fields]


class CallSerializer(serializers.ModelSerializer):
    """A call in the history, with the headline of its metrics when it has ended."""

    campaign_name = serializers.CharField(source="campaign.name", read_only=True)
    talk_seconds = serializers.FloatField(source="metrics.talk_seconds", read_only=True, default=None)
    cost_total = serializers.DecimalField(source="metrics.cost_total", max_digits=14, decimal_places=6, read_only=True, default=None)
    currency = serializers.CharField(source="metrics.currency", read_only=True, default="")
    is_priced = serializers.BooleanField(source="metrics.is_priced", read_only=True, default=None)
    sentiment = serializers.CharField(source="metrics.sentiment_label", read_only=True, default="")
    qa_flags = serializers.JSONField(source="metrics.qa_flags", read_only=True, default=list)
    recording_seconds = serializers.SerializerMethodField(
        help_text="Length of the call's kept recording (GET …/calls/{id}/recording), or null: none, or deleted under retention."
    )

    class Meta:
        model = Call
        fields = [
            "id", "organization", "campaign", "campaign_name", "task", "attempt", "skillbase_version", "phone", "status",
            "outcome", "dialer", "is_simulated", "persona", "sip_status_code", "error", "collected", "callback_at",
            "last_step", "created_at", "dial_started_at", "answered_at", "ended_at",
            "talk_seconds", "cost_total", "currency", "is_priced", "sentiment", "qa_flags", "recording_seconds",
        ]  # fmt: skip
        read_only_fields = fields
        extra_kwargs = {"outcome": {"allow_blank": True}}  # blank while the call is live

    def get_recording_seconds(self, call: Call) -> float | None:
        try:
            recording = call.recording
        except ObjectDoesNotExist:
            return None
        return recording.seconds if recording.available else None


class CallEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = CallLog
        fields = ["id", "seq", "kind", "role", "text", "data", "offset_ms", "created_at"]
        read_only_fields = fields


class TranscriptLineSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    role = serializers.ChoiceField(choices=["user", "assistant"])
    text = serializers.CharField(allow_blank=True)
    interrupted = serializers.BooleanField()
    unheard = serializers.CharField(allow_blank=True, help_text="What the bot meant to say after the callee cut it off.")
    offset_ms = serializers.IntegerField(help_text="Milliseconds since the call was queued.")
    latency_ms = serializers.FloatField(allow_null=True, help_text="For the bot's lines: how long the callee waited for it.")
    step = serializers.CharField(allow_blank=True, help_text="The flow step the conversation was in.")
    recording_at = serializers.FloatField(allow_null=True, help_text="Seconds into the call's recording where the line starts.")
    vad_lag_ms = serializers.FloatField(
        allow_null=True, help_text="Callee lines on audio: how long after the speech ended the VAD called it."
    )
    stt_ms = serializers.FloatField(allow_null=True, help_text="Callee lines on audio: recognition time after the VAD's end of speech.")
    llm_ms = serializers.FloatField(allow_null=True, help_text="Bot lines: the language model's time to its first token.")
    tts_ms = serializers.FloatField(allow_null=True, help_text="Bot lines: the voice's time to its first audio.")


class TranscriptSerializer(serializers.Serializer):
    call = serializers.IntegerField()
    status = serializers.CharField()
    outcome = serializers.CharField(allow_blank=True)
    lines = TranscriptLineSerializer(many=True)
    truncated = serializers.BooleanField(help_text="True when the call is too long to list whole; its events list has everything.")


class MetricsQuerySerializer(serializers.Serializer):
    """The filters of GET /api/analytics/metrics."""

    organization = VisibleRowField(Organization, required=False, help_text="One of your organizations (default: all of them).")
    campaign = VisibleRowField(Campaign, required=False)
    skillbase = VisibleRowField(Skillbase, required=False)
    skillbase_version = VisibleRowField(SkillbaseVersion, required=False)
    date_from = serializers.DateField(required=False, help_text="First day (inclusive) the calls ended on, in `tz`.")
    date_to = serializers.DateField(required=False, help_text="Last day (inclusive), in `tz`.")
    simulated = serializers.BooleanField(required=False, allow_null=True, default=None)
    group_by = serializers.ChoiceField(choices=GROUPS, required=False)
    tz = serializers.CharField(required=False, default="UTC", help_text="IANA time zone days are counted in, e.g. Europe/Moscow.")

    def validate_tz(self, value):
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise serializers.ValidationError(f"Unknown time zone '{value}'.") from None
        return value

    def validate(self, attrs):
        for name in ("date_from", "date_to"):
            if attrs.get(name) and not FIRST_YEAR <= attrs[name].year <= LAST_YEAR:
                raise serializers.ValidationError({name: f"Give a day between {FIRST_YEAR} and {LAST_YEAR}."})
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"date_to": "It is before date_from."})
        return attrs


class FiguresSerializer(serializers.Serializer):
    calls = serializers.IntegerField()
    answered = serializers.IntegerField(help_text="Picked up by a person or a voicemail.")
    successes = serializers.IntegerField()
    answer_rate = serializers.FloatField(allow_null=True, help_text="answered / calls")
    success_rate = serializers.FloatField(allow_null=True, help_text="successes / answered")
    outcomes = serializers.DictField(child=serializers.IntegerField(), help_text="Calls by outcome (outcomes with none left out).")
    latency_mean_ms = serializers.FloatField(allow_null=True, help_text="Mean response latency over all turns.")
    latency_p50_ms = serializers.FloatField(allow_null=True, help_text="Median of the calls' median latency.")
    latency_p95_ms = serializers.FloatField(allow_null=True, help_text="95th percentile of the calls' p95 latency.")
    first_greeting_p50_ms = serializers.FloatField(allow_null=True)
    total_cost = serializers.DecimalField(max_digits=18, decimal_places=6, help_text="Priced calls only; see unpriced_calls.")
    cost_per_success = serializers.DecimalField(max_digits=18, decimal_places=6, allow_null=True)
    unpriced_calls = serializers.IntegerField(help_text="Calls a component of which has no price in the table.")
    mean_talk_seconds = serializers.FloatField(allow_null=True)
    mean_total_seconds = serializers.FloatField(allow_null=True)
    interruptions = serializers.IntegerField(allow_null=True)
    flagged_calls = serializers.IntegerField(help_text="Calls with at least one QA flag.")


class GroupSerializer(FiguresSerializer):
    key = serializers.CharField(help_text="The day (YYYY-MM-DD), id or outcome of the group.")
    label = serializers.CharField()


class FunnelStepSerializer(serializers.Serializer):
    step = serializers.CharField()
    calls = serializers.IntegerField()
    share = serializers.FloatField(allow_null=True, help_text="Of all calls in the filter.")


class MetricsSummarySerializer(serializers.Serializer):
    currency = serializers.CharField()
    exact_percentiles = serializers.BooleanField(
        help_text="False when the calls were too many to read one by one: counts and money are still exact, latency "
        "percentiles come from histograms with 2%-wide buckets."
    )
    totals = FiguresSerializer()
    groups = GroupSerializer(many=True, required=False)
    funnel = FunnelStepSerializer(many=True)
