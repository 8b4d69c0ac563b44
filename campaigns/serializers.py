from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from campaigns.contacts.normalising import RowError, normalise_phone
from campaigns.models import Call, CallTask, Campaign, ContactImport, DoNotCallEntry, Outcome
from skillbases.models import Skillbase
from tenancy.api import OwnedSerializer
from tenancy.validators import validate_region


class CampaignSerializer(OwnedSerializer):
    skillbase = serializers.PrimaryKeyRelatedField(queryset=Skillbase.objects.all())

    class Meta:
        model = Campaign
        fields = [
            "id", "organization", "name", "skillbase", "status", "status_reason", "dialer",
            "calls_per_minute", "max_concurrent_calls", "calling_days", "calling_window_start", "calling_window_end",
            "default_timezone", "default_region", "starts_at", "ends_at", "max_attempts", "retry_policy",
            "budget_cap", "failure_threshold", "failure_window", "caller_id", "sip_trunk_id",
            "simulator_personas", "simulator_seed", "simulator_audio", "created_at", "updated_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = ["status", "status_reason", "created_at", "updated_at", "started_at", "finished_at"]

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None:
            fields["skillbase"].queryset = Skillbase.objects.for_user(request.user)
        return fields

    def validate(self, attrs):
        attrs = super().validate(attrs)
        self.same_organization(attrs, "skillbase")
        self.model_rules(attrs)
        return attrs


class CallListUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text=_("CSV (any common encoding and delimiter) or XLSX; the first sheet is read."))
    region = serializers.CharField(
        required=False, max_length=2, validators=[validate_region], help_text=_("Country for numbers without a country code.")
    )
    mapping = serializers.JSONField(
        required=False,
        help_text=_(
            'Which column feeds which of the script\'s variables, as JSON: {"columns": {"Услуга": "service", "Комментарий": ""}, '
            '"refuse_empty": ["doctor"], "fill_empty": {"service": "одну из наших процедур"}}. A column mapped to "" is not '
            "imported; roles are phone, name, first_name, middle_name, last_name and timezone. Columns left out are paired with "
            "the script's variables by their titles (the report's \"columns\" says what each became)."
        ),
    )


class ImportErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text=_("Row number as a spreadsheet shows it; the header is row 1."))
    column = serializers.CharField()
    value = serializers.CharField(allow_blank=True)
    reason = serializers.CharField()


class ImportReportSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    imported = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    dnc = serializers.IntegerField()
    invalid = serializers.IntegerField()
    errors = ImportErrorSerializer(many=True)
    errors_not_shown = serializers.IntegerField()
    columns = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        help_text=_('Each column\'s title → phone, name, timezone, a variable, or "" (not read).'),
    )
    unmapped_variables = serializers.ListField(child=serializers.CharField(), help_text=_("The script's variables no column feeds."))
    empty_variables = serializers.DictField(
        child=serializers.IntegerField(), help_text=_("The script's variables empty in imported rows, with how many.")
    )
    dry_run = serializers.BooleanField()


class ContactImportSerializer(serializers.ModelSerializer):
    progress = serializers.FloatField(read_only=True)

    class Meta:
        model = ContactImport
        fields = [
            "id", "campaign", "filename", "size", "dry_run", "status", "rows_processed", "progress",
            "report", "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class CallTaskSerializer(serializers.ModelSerializer):
    other_phones = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text=_("The contact's other numbers, best first, for later attempts.")
    )
    number_to_dial = serializers.CharField(read_only=True, help_text=_("The number the next attempt dials."))

    class Meta:
        model = CallTask
        fields = [
            "id", "campaign", "phone", "other_phones", "number_to_dial", "name", "variables", "timezones", "status", "outcome",
            "attempts", "next_attempt_at", "last_attempt_at", "result", "source_row", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields
        extra_kwargs = {"outcome": {"allow_blank": True}}  # blank until the first call ends


class DoNotCallSerializer(OwnedSerializer):
    phone = serializers.CharField(max_length=64, help_text=_("Any common format; stored as E.164."))
    region = serializers.CharField(
        write_only=True,
        required=False,
        max_length=2,
        validators=[validate_region],
        help_text=_("Country for a number without a country code."),
    )
    cancelled_tasks = serializers.IntegerField(read_only=True, help_text=_("Pending tasks cancelled by this entry."))

    class Meta:
        model = DoNotCallEntry
        fields = ["id", "organization", "phone", "reason", "source", "region", "created_at", "cancelled_tasks"]
        read_only_fields = ["source", "created_at"]
        # Uniqueness is checked in validate_phone after normalising; "8 912…" and "+7 912…" are one number.
        validators = []

    def validate_phone(self, value: str) -> str:
        region = (self.initial_data.get("region") or settings.NEWVOICE_DEFAULT_REGION).upper()
        try:
            phone, _extension, _zones = normalise_phone(value, region)
        except RowError as exc:
            raise serializers.ValidationError(exc.reason) from None
        return phone


def _counts_serializer(name: str, choices, help_text: str) -> type[serializers.Serializer]:
    """A serializer with one count per choice, so that the schema names every key."""
    fields = {value: serializers.IntegerField(help_text=str(label)) for value, label in choices.choices}
    return type(name, (serializers.Serializer,), {**fields, "__doc__": help_text})


CampaignStatusCounts = _counts_serializer("CampaignStatusCounts", Campaign.Status, "Campaigns in each status.")
TaskStatusCounts = _counts_serializer("TaskStatusCounts", CallTask.Status, "Tasks (contacts) in each status.")
CallStatusCounts = _counts_serializer("CallStatusCounts", Call.Status, "Calls in each status.")
OutcomeCounts = _counts_serializer("OutcomeCounts", Outcome, "Counts by outcome; rows without an outcome yet are left out.")


class CampaignCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_status = CampaignStatusCounts()


class BudgetSerializer(serializers.Serializer):
    spent = serializers.DecimalField(max_digits=16, decimal_places=6, help_text=_("Cost of the calls so far."))
    cap = serializers.DecimalField(
        max_digits=14, decimal_places=2, allow_null=True, help_text=_("Sum of the budget caps; null when any campaign has no cap.")
    )
    remaining = serializers.DecimalField(max_digits=16, decimal_places=6, allow_null=True)
    share_spent = serializers.FloatField(allow_null=True, help_text=_("Spent divided by the cap, 0-1 (above 1 when overspent)."))


class TaskCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_status = TaskStatusCounts()
    by_outcome = OutcomeCounts(help_text=_("The outcome of each task's latest call."))


class CallCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_status = CallStatusCounts()
    by_outcome = OutcomeCounts()
    answered = serializers.IntegerField(help_text=_("Ended calls that were picked up (by a person or a voicemail box)."))
    answer_rate = serializers.FloatField(allow_null=True, help_text=_("Answered divided by ended calls, 0-1; null before any call ended."))


class StatsQuerySerializer(serializers.Serializer):
    campaign = serializers.IntegerField(required=False, min_value=1, help_text=_("Only this campaign."))


class CampaignStatsSerializer(serializers.Serializer):
    campaigns = CampaignCountsSerializer()
    tasks = TaskCountsSerializer()
    calls = CallCountsSerializer()
    budget = BudgetSerializer()
    currency = serializers.CharField(help_text=_("Currency of the amounts."))
