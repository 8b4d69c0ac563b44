"""The admin's "Try this bot": the page, and the conversation over the real ASGI WebSocket stack."""

from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from newvoice.asgi import application

DEMO = Path(__file__).resolve().parent.parent / "newvoice" / "demo"
pytestmark = pytest.mark.django_db(transaction=True)


def cookie_for(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def connect(skillbase, user=None, origin=b"http://localhost"):
    headers = [(b"origin", origin)]
    if user is not None:
        headers.append((b"cookie", await sync_to_async(cookie_for)(user)))
    communicator = WebsocketCommunicator(application, f"/ws/skillbases/{skillbase.pk}/try", headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


async def test_a_conversation_in_the_browser_socket(salon, viewer):
    communicator, connected, _code = await connect(salon, viewer)
    assert connected
    try:
        await communicator.send_json_to({"type": "start", "variables": {"name": "Анна", "service": "маникюр"}})
        greeting = await communicator.receive_json_from(timeout=10)
        assert greeting["lines"][0]["text"].startswith("Здравствуйте, Анна!")
        assert greeting["state"]["step"] == "greeting"
        await communicator.send_json_to({"type": "say", "text": "да"})
        reply = await communicator.receive_json_from(timeout=10)
        assert [line["tool"] for line in reply["lines"] if line["kind"] == "tool"] == ["goto_step"]
        assert reply["state"]["steps"] == ["greeting", "offer"]
        await communicator.send_json_to({"type": "say", "text": "не звоните мне больше"})
        last = await communicator.receive_json_from(timeout=10)
        assert last["state"]["ended"] is True and last["state"]["outcome"] == "opted_out"
    finally:
        await communicator.disconnect()


async def test_a_bad_time_zone_is_a_clear_error_and_the_socket_stays_usable(salon, operator):
    communicator, connected, _code = await connect(salon, operator)
    assert connected
    try:
        await communicator.send_json_to({"type": "start", "timezone": "Mars/Base"})
        error = await communicator.receive_json_from(timeout=5)
        assert error == {"type": "error", "message": "'Mars/Base' is not a time zone; use a name like Europe/Moscow."}
        await communicator.send_json_to({"type": "start", "variables": {"name": "Анна"}})
        assert (await communicator.receive_json_from(timeout=10))["type"] == "lines"
    finally:
        await communicator.disconnect()


async def test_say_before_start_is_a_clear_error(salon, operator):
    communicator, connected, _code = await connect(salon, operator)
    assert connected
    await communicator.send_json_to({"type": "say", "text": "да"})
    assert (await communicator.receive_json_from(timeout=5))["type"] == "error"
    await communicator.disconnect()


async def test_anonymous_other_organization_and_foreign_origin_are_refused(salon, outsider, operator):
    communicator, connected, code = await connect(salon)
    assert (connected, code) == (False, 4401)
    communicator, connected, code = await connect(salon, outsider)
    assert (connected, code) == (False, 4404)
    communicator, connected, _code = await connect(salon, operator, origin=b"http://evil.example.com")
    assert not connected


def test_the_page_is_scoped(client, salon, viewer, outsider):
    client.force_login(viewer)
    page = client.get(f"/admin/skillbases/skillbase/{salon.pk}/try/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-socket="/ws/skillbases/{salon.pk}/try"' in html and 'name="service"' in html
    assert "Try this bot" in client.get(f"/admin/skillbases/skillbase/{salon.pk}/change/").content.decode()
    client.force_login(outsider)
    assert client.get(f"/admin/skillbases/skillbase/{salon.pk}/try/").status_code == 404


@pytest.mark.parametrize(
    "message",
    ["not json", "[1, 2]", '"start"', "[" * 5000 + "]" * 5000, '{"type": "start", "variables": [1]}', '{"type": "start", "timezone": 5}'],
)
async def test_a_malformed_message_is_an_error_message_and_the_socket_stays_usable(salon, operator, message):
    communicator, connected, _code = await connect(salon, operator)
    assert connected
    try:
        await communicator.send_to(text_data=message)
        assert (await communicator.receive_json_from(timeout=5))["type"] == "error"
        await communicator.send_json_to({"type": "start", "variables": {"name": "Анна"}})
        assert (await communicator.receive_json_from(timeout=10))["type"] == "lines"
    finally:
        await communicator.disconnect()
