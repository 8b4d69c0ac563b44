import django_filters
from django.conf import settings
from django.db.models import ProtectedError, RestrictedError
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, renderers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns import exporting
from campaigns.actions import add_to_do_not_call, remove_from_do_not_call, start_contact_import
from campaigns.contacts.importing import import_contacts, script_variables_of
from campaigns.contacts.mapping import MappingError, parse_mapping
from campaigns.models import CallTask, Campaign, ContactImport, DoNotCallEntry
from campaigns.serializers import (
    CallListUploadSerializer,
    CallTaskSerializer,
    CampaignSerializer,
    CampaignStatsSerializer,
    ContactImportSerializer,
    DoNotCallSerializer,
    ImportReportSerializer,
    StatsQuerySerializer,
)
from campaigns.stats import campaign_stats
from tenancy.api import OrganizationRolePermission, OrganizationScopedViewSet, visible_rows
from tenancy.scoping import get_for_user


class CSVRenderer(renderers.BaseRenderer):
    media_type, format, charset = "text/csv", "csv", "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class XLSXRenderer(renderers.BaseRenderer):
    media_type = exporting.XLSX_TYPE
    format, charset, render_style = "xlsx", None, "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


CAMPAIGN_STATUS = inline_serializer(
    "CampaignStatus",
    {"status": serializers.CharField(help_text="draft, running, paused, completed or cancelled"), "status_reason": serializers.CharField()},
)


class StartOptionsSerializer(serializers.Serializer):
    override_failing_tests = serializers.BooleanField(
        required=False, help_text=gettext_lazy("Start although the skillbase version's test conversations fail (admins only; audited).")
    )


START_OPTIONS = StartOptionsSerializer
CAMPAIGN_REFUSED = OpenApiResponse(
    inline_serializer(
        "CampaignRefused",
        {"detail": serializers.CharField(), "problems": serializers.ListField(child=serializers.CharField(), required=False)},
    ),
    description="The campaign's state (or its setup) does not allow this; the reason and problems say why.",
)


@extend_schema_view(destroy=extend_schema(responses={204: None, 409: CAMPAIGN_REFUSED}))
class CampaignViewSet(OrganizationScopedViewSet):
    queryset = Campaign.objects.select_related("skillbase")
    serializer_class = CampaignSerializer
    filterset_fields = ["status", "skillbase", "organization"]
    ordering_fields = ["created_at", "name", "status"]
    ordering = ["-created_at"]

    def perform_create(self, serializer):
        serializer.save(created_by=self.request.user)

    def destroy(self, request, *args, **kwargs):
        campaign = self.get_object()
        if problem := campaign.deletion_problem():
            return _refused(problem)
        try:
            campaign.delete()
        except (ProtectedError, RestrictedError):
            return _refused(_("The campaign's calls are referred to elsewhere, so it cannot be deleted; cancel it instead."))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=START_OPTIONS, responses={200: CAMPAIGN_STATUS, 400: OpenApiResponse(description="A bad option."), 409: CAMPAIGN_REFUSED}
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def start(self, request, pk=None):
        """Start a draft campaign. Refused, with the problems listed, when it is not ready. The
        skillbase version's test conversations must pass, unless an admin of the organization sets
        ``override_failing_tests`` (audited)."""
        campaign = self.get_object()
        options = StartOptionsSerializer(data=request.data)
        options.is_valid(raise_exception=True)
        override = options.validated_data.get("override_failing_tests", False)
        if problems := campaign.control("start", user=request.user, override_tests=override):
            return _refused(str(Campaign.CONTROLS["start"]), problems)
        return _status(campaign)

    @extend_schema(request=None, responses={200: CAMPAIGN_STATUS, 409: CAMPAIGN_REFUSED})
    @action(detail=True, methods=["post"], filter_backends=[])
    def pause(self, request, pk=None):
        """Stop new dials at once; calls in progress finish."""
        campaign = self.get_object()
        if problems := campaign.control("pause", user=request.user):
            return _refused(str(Campaign.CONTROLS["pause"]), problems)
        return _status(campaign)

    @extend_schema(
        request=START_OPTIONS, responses={200: CAMPAIGN_STATUS, 400: OpenApiResponse(description="A bad option."), 409: CAMPAIGN_REFUSED}
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def resume(self, request, pk=None):
        """Resume a paused campaign. Refused, with the problems listed, when it is not ready. The
        skillbase version's test conversations must pass, unless an admin of the organization sets
        ``override_failing_tests`` (audited)."""
        campaign = self.get_object()
        options = StartOptionsSerializer(data=request.data)
        options.is_valid(raise_exception=True)
        override = options.validated_data.get("override_failing_tests", False)
        if problems := campaign.control("resume", user=request.user, override_tests=override):
            return _refused(str(Campaign.CONTROLS["resume"]), problems)
        return _status(campaign)

    @extend_schema(request=None, responses={200: CAMPAIGN_STATUS, 409: CAMPAIGN_REFUSED})
    @action(detail=True, methods=["post"], filter_backends=[])
    def cancel(self, request, pk=None):
        """Stop the campaign for good: pending contacts are cancelled; calls in progress finish."""
        campaign = self.get_object()
        if problems := campaign.control("cancel", user=request.user):
            return _refused(str(Campaign.CONTROLS["cancel"]), problems)
        return _status(campaign)

    @extend_schema(
        request={"multipart/form-data": CallListUploadSerializer},
        parameters=[OpenApiParameter("dry_run", bool, description="Check the file and report, write nothing.")],
        responses={
            200: ImportReportSerializer,
            202: OpenApiResponse(ContactImportSerializer, description="A large file: imported in the background."),
            400: OpenApiResponse(description="The file cannot be imported at all; nothing was written."),
            413: OpenApiResponse(description="The file is over the size limit."),
        },
    )
    @action(detail=True, methods=["post"], url_path="call-list", parser_classes=[MultiPartParser, FormParser])
    def call_list(self, request, pk=None):
        """Upload contacts (CSV or XLSX). Small files are imported at once and the report returned;
        large ones are imported in the background: poll the returned import for progress."""
        campaign = self.get_object()
        upload_form = CallListUploadSerializer(data=request.data)
        upload_form.is_valid(raise_exception=True)
        upload = upload_form.validated_data["file"]
        region = upload_form.validated_data.get("region", "")
        dry_run = request.query_params.get("dry_run", "").lower() in ("1", "true", "yes")
        try:
            mapping = parse_mapping(upload_form.validated_data.get("mapping"), variables=list(script_variables_of(campaign)))
        except MappingError as exc:
            return Response({"mapping": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        if upload.size > settings.NEWVOICE_IMPORT_MAX_BYTES:
            limit = settings.NEWVOICE_IMPORT_MAX_BYTES / 2**20
            detail = _("The file is %(size).1f MB; the limit is %(limit).1f MB.") % {"size": upload.size / 2**20, "limit": limit}
            return Response({"detail": detail}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        if ContactImport.goes_to_background(upload.size):
            job = start_contact_import(campaign, upload, user=request.user, dry_run=dry_run, region=region, mapping=mapping)
            return Response(ContactImportSerializer(job).data, status=status.HTTP_202_ACCEPTED)
        report = import_contacts(campaign, upload, upload.name, dry_run=dry_run, region=region or None, mapping=mapping)
        if report.file_error:
            return Response({"detail": report.file_error}, status=status.HTTP_400_BAD_REQUEST)
        return Response(ImportReportSerializer(report).data)

    @extend_schema(responses=ContactImportSerializer)
    @action(detail=True, methods=["get"], url_path=r"imports/(?P<import_id>\d+)")
    def imports(self, request, pk=None, import_id=None):
        """Progress and report of a background import."""
        job = get_object_or_404(ContactImport, campaign=self.get_object(), pk=import_id)
        return Response(ContactImportSerializer(job).data)

    @extend_schema(responses=CampaignStatsSerializer)
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def stats(self, request, pk=None):
        """Tasks and calls by status and outcome, answer rate, spend against the budget cap."""
        campaign = self.get_object()
        return Response(CampaignStatsSerializer(campaign_stats(Campaign.objects.filter(pk=campaign.pk))).data)

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["csv", "xlsx"], description="File type (default csv).")],
        responses={(200, "text/csv"): OpenApiTypes.STR, (200, XLSXRenderer.media_type): OpenApiTypes.BINARY},
    )
    @action(detail=True, methods=["get"], renderer_classes=[CSVRenderer, XLSXRenderer])
    def export(self, request, pk=None):
        """Results per contact: status, outcome, attempts, last call, duration, cost, collected fields.
        Cells that a spreadsheet would run as a formula are escaped."""
        campaign = self.get_object()
        name = slugify(campaign.name) or f"campaign-{campaign.pk}"
        if request.accepted_renderer.format == "xlsx":
            response = HttpResponse(exporting.export_xlsx(campaign), content_type=XLSXRenderer.media_type)
            response["Content-Disposition"] = f'attachment; filename="{name}.xlsx"'
            return response
        response = StreamingHttpResponse(exporting.export_csv(campaign), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response


def _status(campaign: Campaign) -> Response:
    return Response({"status": campaign.status, "status_reason": campaign.status_reason})


def _refused(detail: str, problems: list | None = None) -> Response:
    body = {"detail": detail} if problems is None else {"detail": detail, "problems": [str(p) for p in problems]}
    return Response(body, status=status.HTTP_409_CONFLICT)


class DoNotCallViewSet(
    mixins.ListModelMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Numbers never to call. Adding one cancels its pending tasks in every campaign."""

    queryset = DoNotCallEntry.objects.all()
    serializer_class = DoNotCallSerializer
    permission_classes = [OrganizationRolePermission]
    filterset_fields = ["source", "organization"]
    search_fields = ["phone", "reason"]
    ordering_fields = ["created_at", "phone"]
    ordering = ["-created_at"]

    def get_queryset(self):
        return super().get_queryset().for_user(self.request.user)

    def perform_create(self, serializer):
        data = serializer.validated_data
        entry, cancelled = add_to_do_not_call(
            data["organization"].pk, data["phone"], reason=data.get("reason", ""), source=DoNotCallEntry.Source.API, user=self.request.user
        )
        entry.cancelled_tasks = cancelled
        serializer.instance = entry

    def perform_destroy(self, instance):
        remove_from_do_not_call(instance, user=self.request.user)


class CallTaskFilter(django_filters.FilterSet):
    campaign = django_filters.ModelChoiceFilter(queryset=visible_rows(Campaign))
    phone = django_filters.CharFilter(help_text=gettext_lazy("The number in E.164 form, e.g. +79123456789."))
    next_attempt_at = django_filters.IsoDateTimeFromToRangeFilter(
        help_text=gettext_lazy("next_attempt_at_after and next_attempt_at_before, ISO 8601 date and time; either may be left out.")
    )

    class Meta:
        model = CallTask
        fields = ["campaign", "status", "outcome", "phone", "next_attempt_at"]


class CallTaskViewSet(viewsets.ReadOnlyModelViewSet):
    """The contacts of every campaign the user can see, with their progress. Read-only: tasks are
    created by importing contacts and moved on by the calls."""

    queryset = CallTask.objects.all()
    serializer_class = CallTaskSerializer
    permission_classes = [OrganizationRolePermission]
    filterset_class = CallTaskFilter
    search_fields = ["phone", "name"]
    ordering_fields = ["id", "next_attempt_at", "last_attempt_at", "attempts", "status", "created_at", "updated_at"]
    ordering = ["id"]

    def get_queryset(self):
        return super().get_queryset().for_user(self.request.user)


class StatsView(APIView):
    """The figures of every campaign the user can see, or of one (``?campaign=``)."""

    permission_classes = [OrganizationRolePermission]

    @extend_schema(
        parameters=[StatsQuerySerializer],
        responses={
            200: CampaignStatsSerializer,
            400: OpenApiResponse(description="The campaign is not an id."),
            404: OpenApiResponse(description="No such campaign among yours."),
        },
    )
    def get(self, request):
        query = StatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        campaigns = Campaign.objects.for_user(request.user)
        if "campaign" in query.validated_data:
            campaigns = Campaign.objects.filter(pk=get_for_user(Campaign.objects, request.user, query.validated_data["campaign"]).pk)
        return Response(CampaignStatsSerializer(campaign_stats(campaigns)).data)
