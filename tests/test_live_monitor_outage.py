"""The live monitor while Redis is down: streams stay open and read the database at the polling
pace, and the relay re-joins its groups when Redis is back (a restarted Redis has forgotten them)."""

import asyncio
import socket

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from analytics.consumers import Relay
from tests.test_live_monitor import WAIT, events, make_call, make_campaign, open_stream, say, texts, until

pytestmark = pytest.mark.django_db(transaction=True)


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def redis_down(settings):
    """A Redis layer whose server is not there: every layer call fails, as in an outage."""
    config = {"hosts": [f"redis://127.0.0.1:{unused_port()}/0"], "prefix": "test-live-down"}
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": config}}


@pytest.mark.usefixtures("redis_down")
async def test_streams_stay_open_and_read_the_database_while_redis_is_down(org, skillbase, viewer):
    campaign = await sync_to_async(make_campaign)(org, skillbase)
    call = await sync_to_async(make_call)(campaign)
    await sync_to_async(say)(call, "assistant", "before")
    call_stream, connected = await open_stream(f"/api/analytics/ws/calls/{call.pk}", viewer)
    campaign_stream, _ = await open_stream(f"/api/analytics/ws/campaigns/{campaign.pk}", viewer)
    assert connected
    try:
        assert (await call_stream.receive_json_from(timeout=WAIT))["type"] == "snapshot"
        await campaign_stream.receive_json_from(timeout=WAIT)
        for n in range(1, 4):
            await sync_to_async(say)(call, "user", f"during the outage {n}")
            await asyncio.sleep(0.3)
        for stream in (call_stream, campaign_stream):
            got = await until(stream, lambda m: len(events(m)) == 3, timeout=WAIT)
            assert texts(got) == ["during the outage 1", "during the outage 2", "during the outage 3"]
        assert Relay.of(get_channel_layer()).healthy is False
    finally:
        await call_stream.disconnect()
        await campaign_stream.disconnect()


class FlakyLayer:
    """A layer that fails until ``up``; it remembers group members only while up (a restarted Redis)."""

    def __init__(self):
        self.up = False
        self.members: dict[str, set[str]] = {}
        self.adds = 0

    async def new_channel(self):
        return "relay!1"

    async def group_add(self, group, channel):
        if not self.up:
            raise ConnectionError("Redis is down")
        self.adds += 1
        self.members.setdefault(group, set()).add(channel)

    async def receive(self, channel):
        if not self.up:
            raise ConnectionError("Redis is down")
        await asyncio.sleep(3600)


async def test_the_relay_rejoins_its_groups_when_redis_is_back():
    layer = FlakyLayer()
    relay = Relay(layer)
    inbox: asyncio.Queue = asyncio.Queue()
    await relay.join("campaign-1", inbox)
    assert relay.healthy is False and layer.members == {}
    layer.up = True
    for _ in range(40):
        if relay.healthy and layer.members:
            break
        await asyncio.sleep(0.1)
    assert relay.healthy is True and layer.members == {"campaign-1": {"relay!1"}}
    await relay.leave("campaign-1", inbox)
