"""The admin's Live monitor: a campaign's live calls, their transcripts as they happen and the
campaign's counters, over the campaign WebSocket (analytics.consumers)."""

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from campaigns.models import Campaign
from campaigns.operations import monitor_labels
from tenancy.scoping import get_for_user

MAX_CAMPAIGNS = 20  # one socket each


def live_monitor(request):
    """One campaign (``?campaign=<id>``), or every running campaign the user may see."""
    if "campaign" in request.GET:
        campaigns = [get_for_user(Campaign.objects, request.user, request.GET["campaign"])]
    else:
        running = Campaign.objects.for_user(request.user).filter(status=Campaign.Status.RUNNING)
        campaigns = list(running.order_by("name", "pk")[:MAX_CAMPAIGNS])
    context = {
        **admin.site.each_context(request),
        "title": _("Live monitor"),
        "campaigns": campaigns,
        "single": campaigns[0] if "campaign" in request.GET else None,
        "labels": monitor_labels(),
        "opts": Campaign._meta,
    }
    return TemplateResponse(request, "admin/analytics/monitor.html", context)
