"""Every API route and every WebSocket route, with organization A's ids, as an admin of organization
B and as nobody: nothing of A's is readable and nothing of A's changes.

The routes come from the URL resolver and the WebSocket router, not from a list kept here: a new
route is swept as soon as it exists, and one whose path ids the sweep cannot fill fails
``test_every_route_can_be_filled`` until ``tests.support.routes`` or ``CONSUMER_OBJECTS`` learns it. A's own
admin requests every filled GET route first, so a refusal is the scoping's and not a bad id's.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import URLPattern, resolve
from django.utils.regex_helper import normalize
from rest_framework.test import APIClient

from analytics.consumers import CallStreamConsumer, CampaignStreamConsumer
from campaigns.models import CallLog
from newvoice.asgi import application
from newvoice.routing import websocket_urlpatterns
from tenancy.models import ApiToken, Membership, Role
from tests.support.routes import PHONE, PUBLIC, Route, World, api_routes, build_world
from voiceagent.consumers import TryBotConsumer

METHODS = ["get", "post", "put", "patch", "delete"]
OUR_APPS = {"tenancy", "newvoice", "skillbases", "campaigns", "analytics", "voiceagent"}
# What B may answer on a route that names one of A's objects.
REFUSED = {403, 404, 405}


@pytest.fixture
def world(org, org_admin, operator, skillbase_factory, settings, tmp_path) -> World:
    settings.MEDIA_ROOT = str(tmp_path / "media")  # the call's recording is written here
    return build_world(org, org_admin, operator, skillbase_factory)


@pytest.fixture
def intruder(other_org, member_factory, skillbase_factory):
    """An admin of organization B, which has a bot of its own."""
    skillbase_factory(other_org, name="B's own bot")
    return member_factory(other_org, Role.ADMIN, "other-admin")


def test_every_route_can_be_filled(world):
    routes = api_routes()
    unfilled = [route.regex for route in routes if route.path(world) is None]
    assert not unfilled, f"teach ROUTE_OBJECTS/PATH_IDS these routes' ids: {unfilled}"
    paths = {route.path(world) for route in routes}
    assert {"/api/tokens", f"/api/campaigns/{world.campaign.pk}/export", f"/api/organizations/{world.org.pk}/members"} <= paths
    assert len(routes) >= 30
    for route in routes:  # each filled path reaches its own route, not a neighbour's
        assert resolve(route.path(world)).func is route.pattern.callback, route.regex


def test_every_websocket_route_can_be_filled(world):
    unfilled = [str(pattern.pattern) for pattern in websocket_urlpatterns if ws_path(pattern, world) is None]
    assert not unfilled, f"teach CONSUMER_OBJECTS these WebSocket routes: {unfilled}"


# Requests


def payloads(route: Route, world: World, user) -> list[tuple[dict, str]]:
    """Bodies that would change A's rows if they were let through: A's ids, a new name, a higher role;
    once with A as the organization, once leaving it to default to the writer's own."""
    if not route.takes_json():
        upload = SimpleUploadedFile("contacts.csv", f"phone,name\n{PHONE},Mallory\n".encode(), content_type="text/csv")
        return [({"file": upload, "region": "RU"}, "multipart")]
    body = {
        "skillbase": world.skillbase.pk, "campaign": world.campaign.pk, "name": "Taken over", "description": "Taken over",
        "phone": PHONE, "reason": "Taken over", "role": Role.ADMIN, "username": getattr(user, "username", "mallory"),
        "user": getattr(user, "pk", 1), "version": 1, "status": "running", "context": world.skillbase.context,
        "flow": world.skillbase.flow,
    }  # fmt: skip
    return [({**body, "organization": world.org.pk}, "json"), (body, "json")]


def a_ids_query(world: World) -> dict:
    return {
        "organization": world.org.pk, "campaign": world.campaign.pk, "skillbase": world.skillbase.pk, "task": world.task.pk,
        "user": world.admin.pk, "phone": world.call.phone,
    }  # fmt: skip


def snapshot() -> dict[str, dict]:
    tables = set(connection.introspection.table_names())
    models = [model for model in apps.get_models() if model._meta.app_label in OUR_APPS] + [get_user_model()]
    models = [model for model in models if model._meta.db_table in tables]
    return {model._meta.label: {row["id"]: row for row in model._base_manager.order_by("pk").values()} for model in models}


def changes_to_a(before: dict, after: dict, world: World, a_users: set[int]) -> list[str]:
    """A's rows changed or gone, new rows that belong to A or its users, and new rows (B's own) that
    refer to one of A's (a campaign of B's on A's skillbase)."""
    problems = []
    for label, rows in before.items():
        for pk, row in rows.items():
            if after[label].get(pk) != row:
                problems.append(f"{label} {pk} changed: {row} -> {after[label].get(pk)}")
        for pk, row in after[label].items():
            if pk in rows:
                continue
            if row.get("organization_id") == world.org.pk or row.get("user_id") in a_users:
                problems.append(f"{label} {pk} added to A: {row}")
            problems += [f"{label} {pk} refers to A's {ref}: {row}" for ref in references_to_a(label, row, after, world)]
    return problems


def references_to_a(label: str, row: dict, rows: dict, world: World) -> list[str]:
    found = []
    for field in apps.get_model(label)._meta.concrete_fields:
        target = getattr(field, "related_model", None)
        if field.many_to_one or field.one_to_one:
            target_row = rows.get(target._meta.label, {}).get(row[field.attname])
            if target_row is not None and target_row.get("organization_id") == world.org.pk:
                found.append(f"{target._meta.label} {row[field.attname]}")
    return found


def leaked(response, world: World) -> list[str]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode("utf-8", errors="replace")
    return [marker for marker in world.markers if marker in text]


def requests(client, method: str, path: str, route: Route, world: World, user):
    """(description, response) for each way of sending ``method`` to ``path``."""
    if method == "get":
        for query in ({}, a_ids_query(world)):
            yield ("?" + urlencode(query) if query else ""), client.get(path, query)
    elif method == "delete":
        yield "", client.delete(path)
    else:
        for data, fmt in payloads(route, world, user):
            yield f" with {sorted(data)}", getattr(client, method)(path, data, format=fmt)


def test_a_own_admin_reads_every_route_so_the_ids_are_right(world):
    client = APIClient()
    client.force_login(world.admin)
    for route in api_routes():
        path = route.path(world)
        response = client.get(path)
        if response.status_code == 405 or route.regex.startswith("api/schema") or path in PUBLIC:
            continue
        assert response.status_code == 200, (path, response.status_code)


@pytest.mark.parametrize("auth", ["session", "token"])
def test_another_organizations_admin_reads_and_writes_nothing_of_ours(world, intruder, auth):
    client = APIClient()
    if auth == "session":
        client.force_login(intruder)
    else:
        _token, secret = ApiToken.objects.issue(intruder, issued_by=intruder)
        client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    a_users = set(Membership.objects.filter(organization=world.org).values_list("user_id", flat=True))
    problems = []
    for route in api_routes():
        path = route.path(world)
        names_a = any(name != "format" for name in route.params)
        before = snapshot()
        for method in METHODS:
            for how, response in requests(client, method, path, route, world, intruder):
                where = f"{method.upper()} {path}{how} -> {response.status_code}"
                # A query naming A's ids may also be refused as a bad filter (400), as a missing id is.
                allowed = REFUSED | {400} if how.startswith("?") else REFUSED
                if names_a and response.status_code not in allowed:
                    problems.append(f"{where}: expected 403/404/405")
                elif response.status_code >= 500:
                    problems.append(f"{where}: server error")
                if found := leaked(response, world):
                    problems.append(f"{where}: shows {found}")
        problems += [f"after {path}: {change}" for change in changes_to_a(before, snapshot(), world, a_users)]
    assert not problems, "\n".join(problems)


def test_anonymous_reads_and_writes_nothing(world):
    client = APIClient()
    problems = []
    before = snapshot()
    for route in api_routes():
        path = route.path(world)
        public = path in PUBLIC or route.view.__module__.startswith("drf_spectacular")
        for method in METHODS:
            for how, response in requests(client, method, path, route, world, None):
                where = f"{method.upper()} {path}{how} -> {response.status_code}"
                if public and response.status_code not in {200, 405}:
                    problems.append(f"{where}: a public page")
                if not public and response.status_code != 401:
                    problems.append(f"{where}: expected 401")
                if found := leaked(response, world):
                    problems.append(f"{where}: shows {found}")
    assert snapshot() == before
    assert not problems, "\n".join(problems)


# WebSockets

# Which of A's objects a WebSocket route's id names, by its consumer.
CONSUMER_OBJECTS = {CallStreamConsumer: "call", CampaignStreamConsumer: "campaign", TryBotConsumer: "skillbase"}


def ws_path(pattern: URLPattern, world: World) -> str | None:
    template, params = normalize(pattern.pattern.regex.pattern)[0]
    consumer = getattr(pattern.callback, "consumer_class", None)
    if consumer not in CONSUMER_OBJECTS or len(params) != 1:
        return None
    return "/" + template % {params[0]: getattr(world, CONSUMER_OBJECTS[consumer]).pk}


def cookie_for(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def first_output(path: str, user=None, origin: bytes = b"http://localhost") -> tuple[bool, dict | None]:
    """Whether the socket was accepted, and the first thing it sent within two seconds (a close,
    or data), if anything."""
    headers = [(b"origin", origin)]
    if user is not None:
        headers.append((b"cookie", await sync_to_async(cookie_for)(user)))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect(timeout=5)
    try:
        if not connected:
            return False, {"type": "websocket.close", "code": code}
        if await communicator.receive_nothing(timeout=2):
            return True, None
        return True, await communicator.receive_output()
    finally:
        await communicator.disconnect()


@pytest.fixture
def memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("memory_layer")
async def test_every_websocket_refuses_another_organization_and_anonymous(world, intruder):
    await sync_to_async(CallLog.objects.append)(world.call, "transcript", role="assistant", text="Zebra live line A")
    for pattern in websocket_urlpatterns:
        path = ws_path(pattern, world)
        # The ids are right: A's admin gets in (a live stream sends its snapshot; the try-bot waits).
        accepted, output = await first_output(path, world.admin)
        assert accepted and (output is None or output["type"] == "websocket.send"), (path, output)
        for user, code in ((intruder, 4404), (None, 4401)):
            accepted, output = await first_output(path, user)
            # Refused: never accepted, or accepted only to be closed with the reason, before any data.
            assert output is not None and output["type"] == "websocket.close", (path, user, output)
            assert output["code"] == code, (path, user, output)
        # A page on another site cannot open it with A's admin's cookie either.
        accepted, _output = await first_output(path, world.admin, origin=b"https://evil.example")
        assert not accepted, path
