import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.shortcuts import redirect
from django.templatetags.static import static
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response


def home(request):
    return redirect("admin:index")


def _database_status() -> dict:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure of the database is what this endpoint reports
        return {"ok": False, "error": exc.__class__.__name__}
    return {"ok": True, "vendor": connection.vendor, "ms": round((time.perf_counter() - started) * 1000, 1)}


def _channel_layer_status() -> dict:
    layer = get_channel_layer()
    started = time.perf_counter()
    try:
        channel = async_to_sync(layer.new_channel)()
        async_to_sync(layer.send)(channel, {"type": "health.ping"})
        async_to_sync(layer.receive)(channel)
    except Exception as exc:  # a broken layer must show as unhealthy, not crash the probe
        return {"ok": False, "backend": layer.__class__.__name__, "error": exc.__class__.__name__}
    return {"ok": True, "backend": layer.__class__.__name__, "ms": round((time.perf_counter() - started) * 1000, 1)}


_HEALTH_FIELDS = {"ok": serializers.BooleanField(), "database": serializers.DictField(), "channel_layer": serializers.DictField()}


@extend_schema(
    responses={200: inline_serializer("Health", _HEALTH_FIELDS), 503: inline_serializer("HealthFailing", _HEALTH_FIELDS)},
    auth=[],
)
@api_view(["GET"])
@authentication_classes([])  # a probe sending a stale token must still get its answer
@permission_classes([AllowAny])
def health(request):
    """Liveness for load balancers: database and channel layer reachable. Reveals no data."""
    database, layer = _database_status(), _channel_layer_status()
    ok = database["ok"] and layer["ok"]
    return Response({"ok": ok, "database": database, "channel_layer": layer}, status=200 if ok else 503)


def favicon(request):
    """Browsers ask for /favicon.ico whatever the page says: the site's icon."""
    return redirect(static("newvoice/favicon.svg"), permanent=True)
