"""Secrets (the LiveKit secret, provider keys, Django's key, API tokens) never appear in an API
answer, an export, an admin page or a log record.

Distinctive fake secrets are put where production keeps them (the environment, and the settings read
from it); then every GET route of the API is read with a token, the exports in both formats, the
admin's lists and object pages, and a conversation is held against a local OpenAI-compatible
endpoint that refuses the key, with every log record captured at DEBUG.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import zipfile

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse
from livekit.agents import APIStatusError
from rest_framework.test import APIClient

from newvoice.demo.seed import DATA_DIR
from skillbases.schemas import validate_config
from tests.support.openai_server import OpenAIServer
from tests.support.routes import api_routes, build_world
from voiceagent.text import TextConversation

PROVIDER_KEYS = {
    "OPENAI_API_KEY": "sk-proj-FAKEopenaiQ7mXv2LwZp9",
    "DEEPGRAM_API_KEY": "dg-FAKEdeepgramR4nTk8YsHq",
    "CARTESIA_API_KEY": "sk_car_FAKEcartesiaJ2bWc5Ue",
    "ELEVEN_API_KEY": "el-FAKEelevenlabsP6dVa3Ng",
}
LIVEKIT = {"LIVEKIT_API_KEY": "APIfakeLivekitKeyH8s", "LIVEKIT_API_SECRET": "fakeLivekitSecretT3qZr9Wm7Kc2Xb5Nd"}
DJANGO_KEY = "fake-django-secret-key-Vq8Lm2Rt6Yw0Pz4Xc7Hb1Nj5Ks9Gd3Fa"


@pytest.fixture
def secrets(monkeypatch, settings) -> list[str]:
    for name, value in {**PROVIDER_KEYS, **LIVEKIT}.items():
        monkeypatch.setenv(name, value)
    settings.LIVEKIT_URL = "wss://livekit.example.com"
    settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = LIVEKIT["LIVEKIT_API_KEY"], LIVEKIT["LIVEKIT_API_SECRET"]
    settings.SECRET_KEY = DJANGO_KEY
    return [*PROVIDER_KEYS.values(), *LIVEKIT.values(), DJANGO_KEY]


@pytest.fixture
def world(org, org_admin, operator, skillbase_factory, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")  # the call's recording is written here
    return build_world(org, org_admin, operator, skillbase_factory)


def body_text(response) -> str:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if body.startswith(b"PK"):  # an XLSX: the text is in the zipped XML parts
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            return "".join(archive.read(name).decode("utf-8", errors="replace") for name in archive.namelist())
    return body.decode("utf-8", errors="replace")


def log_text(caplog) -> list[str]:
    """Every record as a handler writes it: message, arguments and any traceback."""
    return [caplog.handler.format(record) for record in caplog.records]


def test_no_secret_in_any_answer_or_log(secrets, world, caplog):
    caplog.set_level(logging.DEBUG)
    session = APIClient()
    session.force_login(world.admin)
    issued = session.post("/api/tokens", {"name": "Exporter"}, format="json")
    assert issued.status_code == 201
    token = issued.json()["token"]
    secrets = [*secrets, token, world.token.digest]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    answers: dict[str, str] = {}
    for route in api_routes():
        path = route.path(world)
        response = client.get(path)
        if response.status_code != 405:
            assert response.status_code < 500, path
            answers[path] = body_text(response)
    for fmt in ("csv", "xlsx"):
        path = f"/api/campaigns/{world.campaign.pk}/export?format={fmt}"
        response = client.get(path)
        assert response.status_code == 200, path
        answers[path] = body_text(response)
    assert "Zebra pending contact A" in answers[f"/api/campaigns/{world.campaign.pk}/export?format=xlsx"]  # unzipped right
    for model, model_admin in admin.site._registry.items():
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        pages = [reverse(f"{name}_changelist")]
        if (first := model_admin.get_queryset(_request(world.admin)).first()) is not None:
            pages.append(reverse(f"{name}_change", args=[first.pk]))
        for path in pages:
            response = session.get(path)
            assert response.status_code < 500, path
            answers[path] = body_text(response)
    # A revoked token's request is refused and logged without it.
    assert client.delete(f"/api/tokens/{issued.json()['id']}").status_code == 204
    assert client.get("/api/skillbases").status_code == 401

    assert len(answers) > 40
    shown = {(path, secret) for path, text in answers.items() for secret in secrets if secret in text}
    assert not shown
    assert token in issued.content.decode()  # the one place it is shown: the answer that issues it
    logged = [line for line in log_text(caplog) for secret in secrets if secret in line]
    assert not logged


def _request(user):
    """A request as the admin sees it, for the admin's own queryset."""
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


async def test_a_refused_provider_key_is_not_logged(secrets, caplog):
    caplog.set_level(logging.DEBUG)
    async with OpenAIServer(api_key="sk-the-right-one") as server:
        data = json.loads((DATA_DIR / "salon_ru.json").read_text(encoding="utf-8"))
        data["llm"] = {"provider": "openai", "model": "gpt-4o-mini", "base_url": server.url, "api_key_env": "OPENAI_API_KEY"}
        conversation = TextConversation(validate_config(data), {"name": "Анна"}, timezone="Europe/Moscow")
        try:
            async with asyncio.timeout(10):
                await conversation.start()
                with pytest.raises(APIStatusError) as raised:
                    await conversation.send("Да")
        finally:
            await conversation.aclose()
    assert raised.value.status_code == 401
    assert server.requests and PROVIDER_KEYS["OPENAI_API_KEY"] not in str(raised.value)
    assert caplog.records
    assert not [line for line in log_text(caplog) for secret in secrets if secret in line]
