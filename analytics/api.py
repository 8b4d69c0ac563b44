"""Analytics under /api/analytics/: call history, one call's metrics and transcript, aggregates."""

from __future__ import annotations

import django_filters
from django.conf import settings
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import reports
from analytics.conversation import conversation
from analytics.models import CallMetrics
from analytics.serializers import (
    CallMetricsSerializer,
    CallSerializer,
    MetricsQuerySerializer,
    MetricsSummarySerializer,
    TranscriptSerializer,
)
from campaigns.models import Call, CallRecording, CallTask, Campaign
from campaigns.recordings import recording_response
from skillbases.models import Skillbase, SkillbaseVersion
from tenancy.api import OrganizationRolePermission, visible_rows
from tenancy.models import Organization
from tenancy.scoping import organization_id_list, organization_ids


class CallFilter(django_filters.FilterSet):
    ended_after = django_filters.IsoDateTimeFilter(field_name="ended_at", lookup_expr="gte")
    ended_before = django_filters.IsoDateTimeFilter(field_name="ended_at", lookup_expr="lt")
    sentiment = django_filters.CharFilter(field_name="metrics__sentiment_label")
    organization = django_filters.ModelChoiceFilter(queryset=visible_rows(Organization))
    campaign = django_filters.ModelChoiceFilter(queryset=visible_rows(Campaign))
    task = django_filters.ModelChoiceFilter(queryset=visible_rows(CallTask))
    skillbase = django_filters.ModelChoiceFilter(field_name="skillbase_version__skillbase", queryset=visible_rows(Skillbase))
    skillbase_version = django_filters.ModelChoiceFilter(queryset=visible_rows(SkillbaseVersion))

    class Meta:
        model = Call
        fields = ["organization", "campaign", "task", "status", "outcome", "is_simulated", "dialer", "skillbase_version", "phone"]


class CallViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Every call of your organizations, newest first: live ones too (they have no metrics yet)."""

    queryset = Call.objects.select_related("campaign", "metrics", "recording")
    serializer_class = CallSerializer
    permission_classes = [OrganizationRolePermission]
    filterset_class = CallFilter
    search_fields = ["phone"]
    ordering_fields = ["created_at", "ended_at", "id", "metrics__cost_total", "metrics__talk_seconds"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self):
        # The organizations as a literal list, not a subquery: PostgreSQL then reads the newest calls
        # off the (organization, created) index instead of sorting every call (over 1M calls: 264 ms
        # for a page, 6 ms with the list).
        return super().get_queryset().filter(organization_id__in=organization_id_list(self.request.user))

    @extend_schema(responses=CallMetricsSerializer, summary="What one call measured and cost")
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def metrics(self, request, pk=None):
        call = self.get_object()
        try:
            metrics = call.metrics
        except CallMetrics.DoesNotExist:
            raise Http404(
                _("Call %(id)s has no metrics yet: it is %(status)s.") % {"id": call.pk, "status": call.get_status_display()}
            ) from None
        return Response(CallMetricsSerializer(metrics).data)

    @extend_schema(responses=TranscriptSerializer, summary="The conversation, line by line")
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def transcript(self, request, pk=None):
        call = self.get_object()
        entries, truncated = conversation(call)  # the same reading as the admin's call page
        lines = [
            {
                "seq": entry.seq,
                "role": "assistant" if entry.kind == "bot" else "user",
                "text": entry.text,
                "interrupted": entry.interrupted,
                "unheard": entry.unheard,
                "offset_ms": entry.offset_ms,
                "latency_ms": entry.latency_ms,
                "step": entry.step,
                "recording_at": entry.at,
                "vad_lag_ms": entry.vad_lag_ms,
                "stt_ms": entry.stt_ms,
                "llm_ms": entry.llm_ms,
                "tts_ms": entry.tts_ms,
            }  # fmt: skip
            for entry in entries
            if entry.kind in ("bot", "callee")
        ]
        return Response({"call": call.pk, "status": call.status, "outcome": call.outcome, "lines": lines, "truncated": truncated})

    @extend_schema(
        responses={(200, "audio/ogg"): OpenApiTypes.BINARY, 404: OpenApiResponse(description="No recording, or deleted under retention.")},
        summary="The call's recording: callee left, bot right (Ogg/Opus; byte ranges supported)",
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def recording(self, request, pk=None):
        call = self.get_object()
        recording = CallRecording.objects.filter(call=call).first()
        if recording is None:
            raise Http404(_("Call %(id)s has no recording.") % {"id": call.pk})
        return recording_response(request, recording)


class MetricsSummaryView(APIView):
    """Aggregates over the calls that ended: counts, rates, latency, cost and the step funnel."""

    permission_classes = [OrganizationRolePermission]

    @extend_schema(parameters=[MetricsQuerySerializer], responses=MetricsSummarySerializer, summary="Aggregate call metrics")
    def get(self, request):
        query = MetricsQuerySerializer(data=request.query_params, context={"request": request})
        query.is_valid(raise_exception=True)
        params = query.validated_data
        allowed = [params["organization"].pk] if "organization" in params else organization_ids(request.user)

        def pk(name):
            return params[name].pk if name in params else None

        filters = reports.Filters(
            campaign=pk("campaign"),
            skillbase=pk("skillbase"),
            skillbase_version=pk("skillbase_version"),
            date_from=params.get("date_from"),
            date_to=params.get("date_to"),
            simulated=params.get("simulated"),
            timezone=params["tz"],
        )
        result = reports.summary(allowed, filters, params.get("group_by"))
        return Response(MetricsSummarySerializer({"currency": settings.NEWVOICE_CURRENCY, **result}).data)
