from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from analytics.dashboard import dashboard
from analytics.flow_calls import flow_on_calls
from analytics.live_monitor import live_monitor
from analytics.prometheus import metrics
from newvoice import views
from voiceagent.views import try_bot

admin.site.site_header = "NEW-VOICE"
admin.site.site_title = "NEW-VOICE"
admin.site.index_title = "NEW-VOICE"

urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("admin/skillbases/skillbase/<int:pk>/try/", admin.site.admin_view(try_bot), name="try-bot"),
    path("admin/analytics/live/", admin.site.admin_view(live_monitor), name="live-monitor"),
    path("admin/analytics/dashboard/", admin.site.admin_view(dashboard), name="analytics-dashboard"),
    path("admin/analytics/flow/", admin.site.admin_view(flow_on_calls), name="analytics-flow"),
    path("admin/", admin.site.urls),
    path("api/health", views.health, name="health"),
    path("metrics", metrics, name="prometheus-metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("api-auth/", include("rest_framework.urls")),
    path("api/", include("newvoice.api_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]
