"""WebSocket routes of every app, wrapped by asgi.py in origin validation and authentication."""

from analytics.routing import websocket_urlpatterns as analytics_routes
from voiceagent.routing import websocket_urlpatterns as voiceagent_routes

websocket_urlpatterns = [*analytics_routes, *voiceagent_routes]
