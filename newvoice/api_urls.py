"""The REST API under /api/: every app's viewsets on one router."""

from rest_framework.routers import DefaultRouter

from campaigns.api import CampaignViewSet, DoNotCallViewSet
from skillbases.api import SkillbaseViewSet

router = DefaultRouter()
# Both /api/campaigns and /api/campaigns/ work: the seed's paths have no trailing slash.
router.trailing_slash = "/?"
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("skillbases", SkillbaseViewSet, basename="skillbase")
router.register("dnc", DoNotCallViewSet, basename="dnc")

urlpatterns = router.urls
