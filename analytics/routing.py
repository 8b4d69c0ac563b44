from django.urls import re_path

from analytics.consumers import CallStreamConsumer, CampaignStreamConsumer

websocket_urlpatterns = [
    re_path(r"^api/analytics/ws/calls/(?P<pk>[0-9]+)/?$", CallStreamConsumer.as_asgi()),
    re_path(r"^api/analytics/ws/campaigns/(?P<pk>[0-9]+)/?$", CampaignStreamConsumer.as_asgi()),
]
