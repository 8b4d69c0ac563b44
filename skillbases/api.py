from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, RestrictedError
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from skillbases.models import Skillbase
from skillbases.schemas import ConfigError, validate_config
from skillbases.serializers import (
    ConfigCheckSerializer,
    ConfigSerializer,
    ConversationTestSerializer,
    RollbackResultSerializer,
    RollbackSerializer,
    SkillbaseSerializer,
    SkillbaseVersionSerializer,
    TestRunSerializer,
)
from skillbases.tasks import replace_tests, run_tests_now
from skillbases.testing import validate_tests
from tenancy.api import OrganizationScopedViewSet

CONFLICT = OpenApiResponse(description="The skillbase is used by campaigns; the reason names them.")


@extend_schema_view(destroy=extend_schema(responses={204: None, 409: CONFLICT}))
class SkillbaseViewSet(OrganizationScopedViewSet):
    """Voice bots. Every configuration change is validated and kept as a numbered version."""

    queryset = Skillbase.objects.all()
    serializer_class = SkillbaseSerializer
    filterset_fields = ["organization"]
    search_fields = ["name", "description"]
    ordering_fields = ["name", "created_at", "updated_at"]
    ordering = ["name"]

    def destroy(self, request, *args, **kwargs):
        skillbase = self.get_object()
        if problem := skillbase.deletion_problem():
            return _conflict(problem)
        try:
            skillbase.delete()
        except (ProtectedError, RestrictedError):
            return _conflict(_("The skillbase's versions are referred to by calls or reports, so it cannot be deleted."))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=SkillbaseVersionSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def versions(self, request, pk=None):
        """Saved versions of the configuration, newest first."""
        skillbase = self.get_object()
        versions = skillbase.versions.select_related("author").order_by("-version")
        page = self.paginate_queryset(versions)
        return self.get_paginated_response(SkillbaseVersionSerializer(page, many=True).data)

    @extend_schema(responses=ConversationTestSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None, url_path="tests")
    def tests(self, request, pk=None):
        """The skillbase's test conversations, in the order they run."""
        skillbase = self.get_object()
        return Response([{"name": row.name, **row.spec} for row in skillbase.tests.order_by("position", "pk")])

    @extend_schema(
        request=ConversationTestSerializer(many=True),
        responses={
            200: ConversationTestSerializer(many=True),
            400: OpenApiResponse(description="Each problem, by the test's index and path."),
        },
    )
    @tests.mapping.put
    def replace_tests(self, request, pk=None):
        """Replace every test conversation at once (nothing is saved unless all of them are
        valid for the current configuration); the current version runs them again."""
        skillbase = self.get_object()
        try:
            tests = validate_tests(request.data, skillbase.parsed_config())
        except ConfigError as exc:
            raise serializers.ValidationError({"tests": [str(issue) for issue in exc.issues]}) from None
        replace_tests(skillbase, tests)
        return Response([{"name": test.name, **test.model_dump(mode="json", exclude={"name"})} for test in tests])

    @extend_schema(request=None, responses=TestRunSerializer)
    @action(detail=True, methods=["post"], filter_backends=[], url_path="run-tests")
    def run_tests(self, request, pk=None):
        """Run the test conversations on the current version now and answer with the results."""
        skillbase = self.get_object()
        return Response(TestRunSerializer(run_tests_now(skillbase.current_version)).data)

    @extend_schema(
        request=RollbackSerializer,
        responses={200: RollbackResultSerializer, 400: OpenApiResponse(description="No such version, or its config is no longer valid.")},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def rollback(self, request, pk=None):
        """Make an earlier version's configuration current again, as a new version."""
        skillbase = self.get_object()
        form = RollbackSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        version = form.validated_data["version"]
        if not skillbase.versions.filter(version=version).exists():
            raise serializers.ValidationError(
                {"version": [_("Version %(version)d of this skillbase does not exist.") % {"version": version}]}
            )
        try:
            skillbase.rollback_to(version, author=request.user)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages) from None
        return Response(RollbackResultSerializer({"version": skillbase.version, "rolled_back_to": version}).data)

    @extend_schema(request=ConfigSerializer, responses={200: ConfigCheckSerializer, 400: ConfigCheckSerializer})
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def validate(self, request):
        """Check a configuration without saving anything; every problem is listed with its JSON path."""
        form = ConfigSerializer(data=request.data)
        if not form.is_valid():  # a section that is not JSON at all: answered in the same shape
            errors = [{"path": field, "message": str(message)} for field, messages in form.errors.items() for message in messages]
            return Response(ConfigCheckSerializer({"valid": False, "errors": errors}).data, status=status.HTTP_400_BAD_REQUEST)
        try:
            validate_config(dict(form.validated_data))
        except ConfigError as exc:
            errors = [{"path": issue.path, "message": issue.message} for issue in exc.issues]
            return Response(ConfigCheckSerializer({"valid": False, "errors": errors}).data, status=status.HTTP_400_BAD_REQUEST)
        return Response({"valid": True})


def _conflict(detail: str) -> Response:
    return Response({"detail": detail}, status=status.HTTP_409_CONFLICT)
