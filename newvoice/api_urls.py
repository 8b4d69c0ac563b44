"""The REST API under /api/: every app's viewsets on one router."""

from django.urls import re_path
from rest_framework.routers import DefaultRouter

from analytics.api import CallViewSet, MetricsSummaryView
from campaigns.api import CallTaskViewSet, CampaignViewSet, DoNotCallViewSet, StatsView
from skillbases.api import SkillbaseViewSet
from tenancy.api_invitations import InvitationViewSet, OrganizationInvitationViewSet
from tenancy.api_organizations import MemberViewSet, OrganizationViewSet
from tenancy.api_tokens import ApiTokenViewSet

router = DefaultRouter()
# Both /api/campaigns and /api/campaigns/ work: the seed's paths have no trailing slash.
router.trailing_slash = "/?"
# No ".json"/".csv" suffix routes: the actions take no ``format`` argument (a suffix crashed them with a
# 500), and ``?format=`` chooses the rendering already.
router.include_format_suffixes = False
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("skillbases", SkillbaseViewSet, basename="skillbase")
router.register("dnc", DoNotCallViewSet, basename="dnc")
router.register("analytics/calls", CallViewSet, basename="call")
router.register("tasks", CallTaskViewSet, basename="task")
router.register("organizations", OrganizationViewSet, basename="organization")
router.register(r"organizations/(?P<organization_pk>\d+)/members", MemberViewSet, basename="organization-member")
router.register(r"organizations/(?P<organization_pk>\d+)/invitations", OrganizationInvitationViewSet, basename="organization-invitation")
router.register("invitations", InvitationViewSet, basename="invitation")
router.register("tokens", ApiTokenViewSet, basename="token")

urlpatterns = [
    re_path(r"^analytics/metrics/?$", MetricsSummaryView.as_view(), name="analytics-metrics"),
    re_path(r"^stats/?$", StatsView.as_view(), name="stats"),
    *router.urls,
]
