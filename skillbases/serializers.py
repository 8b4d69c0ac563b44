from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.settings import api_settings

from skillbases.models import Skillbase, SkillbaseTestRun, SkillbaseVersion
from skillbases.schemas import SECTIONS, ConfigError, validate_config
from tenancy.api import OwnedSerializer


def config_errors_by_section(error: ConfigError) -> dict[str, list[str]]:
    """DRF's error format: messages keyed by section, each starting with its JSON path."""
    return {section or api_settings.NON_FIELD_ERRORS_KEY: messages for section, messages in error.by_section().items()}


class SkillbaseSerializer(OwnedSerializer):
    note = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=500,
        help_text=_("Why the configuration changed; kept with the version."),
    )

    class Meta:
        model = Skillbase
        fields = [
            "id",
            "organization",
            "name",
            "description",
            "context",
            "flow",
            "voice",
            "llm",
            "version",
            "note",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["version", "created_at", "updated_at"]
        # The name is unique per organization, which may be filled in by validate: checked there.
        validators = []

    def validate(self, attrs):
        attrs = super().validate(attrs)
        organization = attrs.get("organization") or self.instance.organization
        name = attrs.get("name", getattr(self.instance, "name", None))
        clash = Skillbase.objects.filter(organization=organization, name=name)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError({"name": _("This organization already has a skillbase with this name.")})
        # PATCH: the sections left out keep their stored value; the whole config must still be valid.
        config = {section: attrs.get(section, getattr(self.instance, section, {})) for section in SECTIONS}
        try:
            validate_config(config)
        except ConfigError as exc:
            raise serializers.ValidationError(config_errors_by_section(exc)) from None
        return attrs

    def create(self, validated_data):
        note = validated_data.pop("note", "")
        return self._save(Skillbase(**validated_data), note)

    def update(self, instance, validated_data):
        note = validated_data.pop("note", "")
        for field, value in validated_data.items():
            setattr(instance, field, value)
        return self._save(instance, note)

    def _save(self, skillbase: Skillbase, note: str) -> Skillbase:
        request = self.context.get("request")
        try:
            skillbase.save(author=getattr(request, "user", None), note=note)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages) from None
        return skillbase


class TestResultSerializer(serializers.Serializer):
    name = serializers.CharField()
    passed = serializers.BooleanField()
    failures = serializers.ListField(child=serializers.CharField())
    outcome = serializers.CharField(allow_blank=True)
    steps = serializers.ListField(child=serializers.CharField())
    collected = serializers.DictField()
    transcript = serializers.ListField(child=serializers.DictField(child=serializers.CharField()))


class TestRunSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.version", read_only=True)
    results = TestResultSerializer(many=True, read_only=True)

    class Meta:
        model = SkillbaseTestRun
        fields = ["id", "version", "status", "total", "failed", "error", "results", "created_at", "finished_at"]
        read_only_fields = fields


class SkillbaseVersionSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True, allow_null=True, default=None)
    tests = serializers.SerializerMethodField(help_text=_("The latest run of the skillbase's test conversations on this version."))

    class Meta:
        model = SkillbaseVersion
        fields = ["version", "author", "note", "created_at", "tests"]
        read_only_fields = fields

    @extend_schema_field(TestRunSerializer(allow_null=True))
    def get_tests(self, version):
        run = version.latest_test_run()
        return TestRunSerializer(run).data if run else None


class ConversationTestSerializer(serializers.Serializer):
    """One test conversation (skillbases.testing.ConversationTest): callee lines ("" is silence),
    the contact's variables, time zone and moment, and what must come of it."""

    name = serializers.CharField(max_length=200)
    lines = serializers.ListField(child=serializers.CharField(allow_blank=True, max_length=500, trim_whitespace=False))
    variables = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    timezone = serializers.CharField(required=False, allow_blank=True)
    at = serializers.CharField(required=False, allow_blank=True, help_text=_("When the call happens, YYYY-MM-DD HH:MM on its clock."))
    expect = serializers.DictField(required=False, help_text=_("outcome, collected, not_collected, reached, avoided, says, never_says."))


class RollbackSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, help_text=_("The version whose configuration becomes current again."))


class RollbackResultSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text=_("The skillbase's version after the rollback."))
    rolled_back_to = serializers.IntegerField()


class ConfigSerializer(serializers.Serializer):
    context = serializers.JSONField(required=False, default=dict)
    flow = serializers.JSONField(required=False, default=dict)
    voice = serializers.JSONField(required=False, default=dict)
    llm = serializers.JSONField(required=False, default=dict)


class ConfigIssueSerializer(serializers.Serializer):
    path = serializers.CharField(allow_blank=True, help_text=_("JSON path of the problem, e.g. flow.steps[1].transitions[0].goto."))
    message = serializers.CharField()


class ConfigCheckSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    errors = ConfigIssueSerializer(many=True, required=False)
