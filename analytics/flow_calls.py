"""The flow drawn with what calls did on it: how many took each arrow, reached each step, were lost
where — for a campaign or a skillbase version, from the calls' metrics."""

from __future__ import annotations

from django.contrib import admin
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from analytics.models import CallMetrics
from campaigns.models import Campaign
from skillbases.graph import FlowCounts, flow_graph
from skillbases.models import SkillbaseVersion


def flow_counts(metrics, flow: dict) -> FlowCounts:
    """What the calls in ``metrics`` (CallMetrics) did on ``flow``: one query, one pass."""
    ends = {step["id"] for step in flow.get("steps", []) if step.get("end")}
    counts = FlowCounts()
    for steps, last_step in metrics.values_list("steps_reached", "last_step").iterator(chunk_size=2000):
        path = list(steps or [])
        if last_step and (not path or path[-1] != last_step):
            path.append(last_step)
        counts.add_call(path, ended_on_end_step=bool(path) and path[-1] in ends)
    return counts


def flow_on_calls(request):
    """GET ?campaign=ID (its skillbase's current version, or ?version=ID among those it called with)
    or ?version=ID alone (every campaign's calls on that version)."""
    versions = SkillbaseVersion.objects.for_user(request.user).select_related("skillbase")
    campaign = None
    if request.GET.get("campaign"):
        campaign = get_object_or_404(Campaign.objects.for_user(request.user).select_related("skillbase"), pk=_id(request.GET["campaign"]))
    if request.GET.get("version"):
        version = get_object_or_404(versions, pk=_id(request.GET["version"]))
    elif campaign is not None:
        version = campaign.skillbase.current_version
        if version is None:
            raise Http404
    else:
        raise Http404
    metrics = CallMetrics.objects.filter(skillbase_version=version)
    if campaign is not None:
        metrics = metrics.filter(campaign=campaign)
    counts = flow_counts(metrics, version.config.get("flow", {}))
    others = []
    if campaign is not None:
        on_others = (
            CallMetrics.objects.filter(campaign=campaign).exclude(skillbase_version=version).values_list("skillbase_version", flat=True)
        )
        for other in versions.filter(pk__in=on_others.distinct()).order_by("-version"):
            others.append({"version": other, "url": reverse("analytics-flow") + f"?campaign={campaign.pk}&version={other.pk}"})
    subject = campaign.name if campaign is not None else str(version.skillbase)
    context = {
        **admin.site.each_context(request),
        "title": _("%(subject)s: the flow and its calls") % {"subject": subject},
        "campaign": campaign,
        "version": version,
        "graph": flow_graph(version.config.get("flow", {}), counts=counts, title=_("Version %(n)s") % {"n": version.version}),
        "counts": counts,
        "others": others,
        "opts": CallMetrics._meta,
    }
    return TemplateResponse(request, "admin/analytics/flow_calls.html", context)


def _id(value: str) -> int:
    if not value.isdigit():
        raise Http404
    return int(value)
