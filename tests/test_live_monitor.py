"""The live WebSockets (/api/analytics/ws/calls/{id}, /api/analytics/ws/campaigns/{id}) and the
admin's Live monitor page, through the real ASGI stack (origin check, session auth, routing).

Polling mode (the in-memory layer: events written by another process never reach it) runs
everywhere; push mode needs Redis and runs when REDIS_URL is set (CI's PostgreSQL run).
"""

from __future__ import annotations

import os
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from analytics import consumers
from analytics import watch as watch_module
from analytics.watch import Watch
from campaigns.actions import finish_call
from campaigns.models import Call, CallLog, CallTask, Campaign
from campaigns.push import call_group
from newvoice.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)
WAIT = 5  # seconds: a poll comes every half second


@pytest.fixture
def memory_layer(settings):
    """Polling mode, even when the suite runs with REDIS_URL."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
async def redis_layer(settings):
    """Push mode on the Redis layer, under a prefix of its own; skipped without REDIS_URL."""
    url = os.environ.get("REDIS_URL", "")
    if not url:
        pytest.skip("push mode needs Redis: set REDIS_URL (CI's PostgreSQL run does)")
    config = {"hosts": [url], "prefix": f"test-live-{uuid.uuid4().hex[:8]}"}
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": config}}
    yield
    layer = get_channel_layer()
    await layer.flush()
    await layer.close_pools()


# Rows, written through the real models


def make_campaign(org, skillbase, name="Spring", status=Campaign.Status.RUNNING) -> Campaign:
    return Campaign.objects.create(organization=org, name=name, skillbase=skillbase, status=status)


def make_call(campaign: Campaign, number: int = 1, *, status=Call.Status.IN_PROGRESS) -> Call:
    task = CallTask.objects.create(
        organization_id=campaign.organization_id, campaign=campaign, phone=f"+7916000{number:04d}", name=f"Contact {number}",
        status=CallTask.Status.IN_PROGRESS,
    )  # fmt: skip
    return Call.objects.create(
        organization_id=campaign.organization_id, campaign=campaign, task=task, attempt=1, phone=task.phone, dialer="simulator",
        skillbase_version=campaign.skillbase.current_version, status=status,
    )  # fmt: skip


def say(call: Call, role: str, text: str) -> CallLog:
    return CallLog.objects.append(call, "transcript", role=role, text=text)


def end(call: Call, outcome: str = "success") -> None:
    """The way every door ends a call: finish_call writes the call row and its call_ended event together."""
    finish_call(call.pk, outcome=outcome)


def cookie_for(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def open_stream(path: str, user=None, *, origin: bytes = b"http://localhost"):
    headers = [(b"origin", origin)]
    if user is not None:
        headers.append((b"cookie", await sync_to_async(cookie_for)(user)))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _code = await communicator.connect()
    return communicator, connected


async def closed_with(path: str, user=None) -> int:
    communicator, connected = await open_stream(path, user)
    assert connected  # accepted, then closed with a code the browser can read
    output = await communicator.receive_output(timeout=WAIT)
    await communicator.disconnect()
    return output["code"]


async def until(communicator, done, *, timeout: float = WAIT) -> list[dict]:
    """Messages received until ``done(messages)`` holds."""
    messages: list[dict] = []
    while not done(messages):
        messages.append(await communicator.receive_json_from(timeout=timeout))
    return messages


def events(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m["type"] == "event"]


def texts(messages: list[dict]) -> list[str]:
    return [m["text"] for m in events(messages)]


async def quiet(communicator, seconds: float = 1.6) -> list[dict]:
    """Whatever else arrives within ``seconds`` (three polls): no events are expected."""
    messages = []
    while not await communicator.receive_nothing(timeout=seconds):
        messages.append(await communicator.receive_json_from())
    return messages


# The call stream


@pytest.mark.usefixtures("memory_layer")
async def test_a_client_joining_mid_call_gets_the_snapshot_then_each_new_event_once(org, skillbase, viewer):
    campaign = await sync_to_async(make_campaign)(org, skillbase)
    call = await sync_to_async(make_call)(campaign)
    await sync_to_async(CallLog.objects.append)(call, "call_started", data={"mode": "simulated"})
    await sync_to_async(say)(call, "assistant", "Hello Anna, can you come tomorrow?")

    stream, connected = await open_stream(f"/api/analytics/ws/calls/{call.pk}", viewer)
    assert connected
    try:
        snapshot = await stream.receive_json_from(timeout=WAIT)
        assert snapshot["type"] == "snapshot" and snapshot["resumed"] is False
        assert snapshot["call"]["id"] == call.pk and snapshot["call"]["status"] == "in_progress"
        assert snapshot["call"]["phone"] == "+79160000001" and snapshot["call"]["name"] == "Contact 1"
        assert [(e["seq"], e["kind"]) for e in snapshot["events"]] == [(1, "call_started"), (2, "transcript")]
        first = snapshot["events"][1]
        assert set(first) == {"type", "id", "call", "campaign", "seq", "kind", "role", "text", "data", "offset_ms", "created_at"}
        assert (first["role"], first["text"], first["call"]) == ("assistant", "Hello Anna, can you come tomorrow?", call.pk)
        assert snapshot["last_event"] == first["id"]

        await sync_to_async(say)(call, "user", "Yes, sure")
        await sync_to_async(say)(call, "assistant", "Great, see you then.")
        got = await until(stream, lambda m: len(m) == 2)
        assert [(e["seq"], e["role"], e["text"]) for e in got] == [(3, "user", "Yes, sure"), (4, "assistant", "Great, see you then.")]

        await sync_to_async(end)(call, "success")
        ended = await stream.receive_json_from(timeout=WAIT)
        assert (ended["kind"], ended["seq"], ended["outcome"]) == ("call_ended", 5, "success")
        assert events(await quiet(stream)) == []
    finally:
        await stream.disconnect()


@pytest.mark.usefixtures("memory_layer")
async def test_resuming_after_an_event_id_sends_only_what_followed_it(org, skillbase, viewer):
    campaign = await sync_to_async(make_campaign)(org, skillbase)
    call = await sync_to_async(make_call)(campaign)
    seen = [await sync_to_async(say)(call, "assistant", f"line {n}") for n in range(1, 4)]

    stream, _ = await open_stream(f"/api/analytics/ws/calls/{call.pk}?after={seen[1].pk}", viewer)
    try:
        snapshot = await stream.receive_json_from(timeout=WAIT)
        assert snapshot["resumed"] is True
        assert [e["text"] for e in snapshot["events"]] == ["line 3"]
        await sync_to_async(say)(call, "user", "line 4")
        assert texts(await until(stream, lambda m: len(m) == 1)) == ["line 4"]
        assert events(await quiet(stream)) == []
    finally:
        await stream.disconnect()

    # Resuming from the last id it saw, a client gets nothing twice and nothing is missing.
    await sync_to_async(say)(call, "assistant", "line 5 (while away)")
    last = await sync_to_async(lambda: CallLog.objects.get(call=call, seq=4).pk)()
    stream, _ = await open_stream(f"/api/analytics/ws/calls/{call.pk}?after={last}", viewer)
    try:
        snapshot = await stream.receive_json_from(timeout=WAIT)
        assert [(e["seq"], e["text"]) for e in snapshot["events"]] == [(5, "line 5 (while away)")]
    finally:
        await stream.disconnect()


@pytest.mark.usefixtures("memory_layer")
async def test_a_client_too_far_behind_gets_a_fresh_snapshot(org, skillbase, viewer, settings, monkeypatch):
    campaign = await sync_to_async(make_campaign)(org, skillbase)
    call = await sync_to_async(make_call)(campaign)
    first = await sync_to_async(say)(call, "assistant", "line 1")
    for n in range(2, 5):
        await sync_to_async(say)(call, "assistant", f"line {n}")
    monkeypatch.setattr(watch_module, "RESUME_LIMIT", 2)  # a configuration value, not behaviour
    stream, _ = await open_stream(f"/api/analytics/ws/calls/{call.pk}?after={first.pk}", viewer)
    try:
        snapshot = await stream.receive_json_from(timeout=WAIT)
        assert snapshot["resumed"] is False
        assert [e["seq"] for e in snapshot["events"]] == [1, 2, 3, 4]
    finally:
        await stream.disconnect()


# The campaign stream


@pytest.mark.usefixtures("memory_layer")
async def test_the_campaign_stream_shows_live_calls_and_new_ones_and_updates_counters(org, skillbase, operator):
    campaign = await sync_to_async(make_campaign)(org, skillbase)
    live_call = await sync_to_async(make_call)(campaign, 1)
    done = await sync_to_async(make_call)(campaign, 2)
    await sync_to_async(say)(done, "assistant", "an earlier call")
    await sync_to_async(end)(done, "refusal")
    await sync_to_async(say)(live_call, "assistant", "Hello, this is Test Clinic.")
    queued = await sync_to_async(make_call)(campaign, 3, status=Call.Status.QUEUED)  # not dialled yet: no events

    stream, _ = await open_stream(f"/api/analytics/ws/campaigns/{campaign.pk}", operator)
    try:
        snapshot = await stream.receive_json_from(timeout=WAIT)
        assert snapshot["campaign"] == {"id": campaign.pk, "name": "Spring", "status": "running"}
        assert [c["id"] for c in snapshot["calls"]] == [live_call.pk, queued.pk]  # the live ones only
        assert [e["text"] for e in snapshot["calls"][0]["events"]] == ["Hello, this is Test Clinic."]
        assert snapshot["calls"][1]["events"] == [] and snapshot["calls"][1]["status"] == "queued"
        assert snapshot["counters"] == {
            "campaign_status": "running", "calls_live": 2, "calls_ended": 1, "ended": {"refusal": 1},
            "tasks": {"pending": 0, "in_progress": 2, "done": 1},
        }  # fmt: skip

        # A call that starts after the snapshot: its state first, then its events.
        newcomer = await sync_to_async(make_call)(campaign, 4)
        await sync_to_async(CallLog.objects.append)(newcomer, "call_started")
        await sync_to_async(say)(live_call, "user", "Yes")
        got = await until(stream, lambda m: len(events(m)) == 2)
        got = [m for m in got if m["type"] != "counters"]
        calls = [m for m in got if m["type"] == "call"]
        assert [c["call"]["id"] for c in calls] == [newcomer.pk] and calls[0]["call"]["phone"] == "+79160000004"
        assert got.index(calls[0]) < got.index(next(e for e in got if e.get("call") == newcomer.pk))
        assert sorted((e["call"], e["seq"]) for e in events(got)) == [(live_call.pk, 2), (newcomer.pk, 1)]

        # The call ends: its last event says how, and the counters follow.
        await sync_to_async(end)(live_call, "success")
        got = await until(stream, lambda m: any(x["type"] == "counters" and x["counters"]["ended"].get("success") for x in m))
        ended = events(got)[0]
        assert (ended["kind"], ended["outcome"]) == ("call_ended", "success")
        counters = got[-1]["counters"]
        assert counters["calls_ended"] == 2 and counters["ended"] == {"refusal": 1, "success": 1}
        # The contact's row moves on a moment after the call row: the counters catch up.
        if counters["tasks"]["done"] != 2:
            got = await until(stream, lambda m: m and m[-1]["type"] == "counters" and m[-1]["counters"]["tasks"]["done"] == 2)
            counters = got[-1]["counters"]
        assert counters["calls_live"] == 2 and counters["tasks"] == {"pending": 0, "in_progress": 2, "done": 2}
        assert events(await quiet(stream)) == []
    finally:
        await stream.disconnect()


@pytest.mark.usefixtures("memory_layer")
async def test_a_campaign_client_resuming_gets_the_events_of_calls_that_ended_meanwhile(org, skillbase, viewer):
    campaign = await sync_to_async(make_campaign)(org, skillbase)
    first, second = [await sync_to_async(make_call)(campaign, n) for n in (1, 2)]
    seen = await sync_to_async(say)(first, "assistant", "seen before")
    await sync_to_async(say)(second, "assistant", "second, missed")
    await sync_to_async(end)(second, "voicemail")
    await sync_to_async(say)(first, "user", "first, missed")

    stream, _ = await open_stream(f"/api/analytics/ws/campaigns/{campaign.pk}?after={seen.pk}", viewer)
    try:
        snapshot = await stream.receive_json_from(timeout=WAIT)
        assert snapshot["resumed"] is True
        by_call = {c["id"]: [(e["seq"], e["kind"]) for e in c["events"]] for c in snapshot["calls"]}
        assert by_call == {first.pk: [(2, "transcript")], second.pk: [(1, "transcript"), (2, "call_ended")]}
        await sync_to_async(say)(first, "assistant", "after the resume")
        got = await until(stream, lambda m: len(events(m)) == 1)
        assert [(e["call"], e["seq"]) for e in events(got)] == [(first.pk, 3)]
        assert events(await quiet(stream)) == []
    finally:
        await stream.disconnect()


@pytest.mark.usefixtures("memory_layer")
async def test_an_event_that_commits_out_of_id_order_is_still_sent(org, skillbase, viewer):
    """PostgreSQL hands out ids before commit: a row with a lower id can appear after a higher one was
    sent. The poll re-reads recent ids and the per-call numbering tells new from repeated."""
    campaign = await sync_to_async(make_campaign)(org, skillbase)
    slow, fast = [await sync_to_async(make_call)(campaign, n) for n in (1, 2)]
    stream, _ = await open_stream(f"/api/analytics/ws/campaigns/{campaign.pk}", viewer)
    try:
        await stream.receive_json_from(timeout=WAIT)

        def commit_out_of_order():
            late = CallLog(organization=slow.organization, campaign=campaign, call=slow, seq=1, kind="transcript", text="late")
            late.save()  # takes its id now…
            CallLog.objects.filter(pk=late.pk).delete()  # …and is not visible yet (as if uncommitted)
            say(fast, "assistant", "fast")
            return late

        late = await sync_to_async(commit_out_of_order)()
        got = await until(stream, lambda m: len(events(m)) == 1)
        assert texts(got) == ["fast"]
        await sync_to_async(late.save)()  # the slow transaction commits, with the lower id
        got = await until(stream, lambda m: len(events(m)) == 1)
        assert [(e["id"], e["text"]) for e in events(got)] == [(late.pk, "late")]
        assert events(await quiet(stream)) == []
    finally:
        await stream.disconnect()


# Who may watch


@pytest.mark.usefixtures("memory_layer")
async def test_anonymous_other_organizations_unknown_ids_bad_resume_and_foreign_origins_are_refused(org, skillbase, outsider, viewer):
    campaign = await sync_to_async(make_campaign)(org, skillbase)
    call = await sync_to_async(make_call)(campaign)
    for path in (f"/api/analytics/ws/calls/{call.pk}", f"/api/analytics/ws/campaigns/{campaign.pk}"):
        assert await closed_with(path) == 4401
        assert await closed_with(path, outsider) == 4404
        assert await closed_with(f"{path}?after=yesterday", viewer) == 4400
        stream, connected = await open_stream(path, viewer, origin=b"http://evil.example.com")
        assert not connected
    assert await closed_with("/api/analytics/ws/calls/999999", viewer) == 4404
    assert await closed_with("/api/analytics/ws/campaigns/999999", viewer) == 4404


# Push mode


@pytest.mark.usefixtures("redis_layer")
async def test_pushed_events_arrive_at_once_in_order_without_repeats(org, skillbase, viewer):
    campaign = await sync_to_async(make_campaign)(org, skillbase)
    call = await sync_to_async(make_call)(campaign)
    await sync_to_async(say)(call, "assistant", "before")
    call_stream, _ = await open_stream(f"/api/analytics/ws/calls/{call.pk}", viewer)
    campaign_stream, _ = await open_stream(f"/api/analytics/ws/campaigns/{campaign.pk}", viewer)
    try:
        assert [e["text"] for e in (await call_stream.receive_json_from(timeout=WAIT))["events"]] == ["before"]
        assert [c["id"] for c in (await campaign_stream.receive_json_from(timeout=WAIT))["calls"]] == [call.pk]
        for n in range(1, 6):
            await sync_to_async(say)(call, "user", f"pushed {n}")
        # Well within the 5 s between database checks: these were pushed.
        for stream in (call_stream, campaign_stream):
            got = await until(stream, lambda m: len(events(m)) == 5, timeout=1)
            assert [e["seq"] for e in events(got)] == [2, 3, 4, 5, 6]
        await sync_to_async(end)(call, "success")
        for stream in (call_stream, campaign_stream):
            got = await until(stream, lambda m: len(events(m)) == 1, timeout=1)
            assert (events(got)[0]["kind"], events(got)[0]["outcome"]) == ("call_ended", "success")
    finally:
        await call_stream.disconnect()
        await campaign_stream.disconnect()


@pytest.mark.usefixtures("redis_layer")
async def test_watchers_of_one_campaign_in_a_process_come_and_go_without_disturbing_each_other(org, skillbase, viewer):
    campaign = await sync_to_async(make_campaign)(org, skillbase)
    call = await sync_to_async(make_call)(campaign)
    path = f"/api/analytics/ws/campaigns/{campaign.pk}"
    first, _ = await open_stream(path, viewer)
    second, _ = await open_stream(path, viewer)
    third = None
    try:
        for stream in (first, second):
            assert (await stream.receive_json_from(timeout=WAIT))["type"] == "snapshot"
        await first.disconnect()
        await sync_to_async(say)(call, "user", "after the first left")
        assert texts(await until(second, lambda m: len(events(m)) == 1, timeout=1)) == ["after the first left"]
        third, _ = await open_stream(path, viewer)
        assert [e["text"] for e in (await third.receive_json_from(timeout=WAIT))["calls"][0]["events"]] == ["after the first left"]
        await sync_to_async(say)(call, "assistant", "to both")
        for stream in (second, third):
            assert texts(await until(stream, lambda m: len(events(m)) == 1, timeout=1)) == ["to both"]
    finally:
        await second.disconnect()
        if third is not None:
            await third.disconnect()


@pytest.mark.usefixtures("redis_layer")
async def test_a_lost_push_is_filled_from_the_database_before_the_next_one(org, skillbase, viewer):
    campaign = await sync_to_async(make_campaign)(org, skillbase)
    call = await sync_to_async(make_call)(campaign)
    stream, _ = await open_stream(f"/api/analytics/ws/calls/{call.pk}", viewer)
    try:
        await stream.receive_json_from(timeout=WAIT)
        # A row whose push was lost (a full channel drops it): written without publishing.
        await sync_to_async(CallLog.objects.create)(
            organization=org, campaign=campaign, call=call, seq=1, kind="transcript", role="assistant", text="lost push"
        )
        await sync_to_async(say)(call, "user", "pushed")
        got = await until(stream, lambda m: len(events(m)) == 2, timeout=1)
        assert [(e["seq"], e["text"]) for e in events(got)] == [(1, "lost push"), (2, "pushed")]
        # The same batch pushed again (a redelivery) is dropped.
        group = call_group(call.pk)
        await get_channel_layer().group_send(group, {"type": "call.events", "group": group, "call": {}, "events": events(got)})
        assert await stream.receive_nothing(timeout=0.5)
    finally:
        await stream.disconnect()


@pytest.mark.usefixtures("redis_layer")
async def test_a_pushed_watcher_still_finds_a_lost_last_event_in_the_database(org, skillbase, viewer, monkeypatch):
    monkeypatch.setattr(consumers, "RECONCILE_SECONDS", 1.0)  # a configuration value, not behaviour
    campaign = await sync_to_async(make_campaign)(org, skillbase)
    call = await sync_to_async(make_call)(campaign)
    stream, _ = await open_stream(f"/api/analytics/ws/campaigns/{campaign.pk}", viewer)
    try:
        await stream.receive_json_from(timeout=WAIT)
        await sync_to_async(CallLog.objects.create)(
            organization=org, campaign=campaign, call=call, seq=1, kind="call_ended", data={"outcome": "busy"}
        )  # the call's last event, and its push was lost
        got = await until(stream, lambda m: len(events(m)) == 1, timeout=3)
        assert [(e["kind"], e["outcome"]) for e in events(got)] == [("call_ended", "busy")]
    finally:
        await stream.disconnect()


def test_publish_without_a_shared_layer_sends_nothing_and_never_fails_the_writer(org, skillbase, memory_layer, settings):
    campaign = make_campaign(org, skillbase)
    call = make_call(campaign)
    say(call, "assistant", "nobody listens in this process")  # the in-memory layer: watchers poll
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}
    }
    log = say(call, "assistant", "Redis is down")  # logged, and the event is in the database all the same
    assert CallLog.objects.get(pk=log.pk).text == "Redis is down"


# The Watch's bookkeeping on its own


def test_a_watch_drops_repeats_and_asks_the_database_about_gaps_and_strangers():
    watch = Watch(campaign_id=1, last_seq={10: 2})

    def batch(call, *seqs):
        events = [{"type": "event", "call": call, "seq": s, "id": 100 * call + s, "kind": "transcript"} for s in seqs]
        return {"call": {"id": call}, "events": events}

    assert watch.take(batch(10, 1, 2)) == []  # both already sent
    assert [e["seq"] for e in watch.take(batch(10, 2, 3, 4))] == [3, 4]
    assert watch.take(batch(10, 6)) is None  # 5 is missing: read the database first
    assert watch.take(batch(11, 2)) is None  # a call met in the middle
    assert [m["type"] for m in watch.take(batch(12, 1))] == ["call", "event"]  # a call that just started
    assert watch.last_seq == {10: 4, 12: 1}


# The admin page


def test_the_live_monitor_page_is_staff_only_and_organization_scoped(
    client, org, other_org, skillbase, skillbase_factory, viewer, outsider
):
    running = make_campaign(org, skillbase, "Spring")
    make_campaign(org, skillbase, "Draft one", status=Campaign.Status.DRAFT)
    theirs = make_campaign(other_org, skillbase_factory(other_org), "Theirs")

    client.force_login(viewer)
    page = client.get("/admin/analytics/live/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-socket="/api/analytics/ws/campaigns/{running.pk}"' in html and "Draft one" not in html and "Theirs" not in html
    assert "analytics/monitor.js" in html and "//cdn" not in html and "https://" not in html
    one = client.get(f"/admin/analytics/live/?campaign={running.pk}").content.decode()
    assert one.count("data-socket=") == 1
    assert client.get(f"/admin/analytics/live/?campaign={theirs.pk}").status_code == 404
    assert client.get("/admin/analytics/live/?campaign=nope").status_code == 404
    assert f"/admin/analytics/live/?campaign={running.pk}" in client.get(f"/admin/campaigns/campaign/{running.pk}/change/").content.decode()

    client.force_login(outsider)
    html = client.get("/admin/analytics/live/").content.decode()
    assert "Theirs" in html and "Spring" not in html
    client.logout()
    assert client.get("/admin/analytics/live/").status_code == 302  # to the admin login


def test_the_live_monitor_page_reads_a_fixed_number_of_queries(client, org, skillbase, viewer, django_assert_max_num_queries):
    for n in range(5):
        make_campaign(org, skillbase, f"Campaign {n}")
    client.force_login(viewer)
    with django_assert_max_num_queries(8):
        assert client.get("/admin/analytics/live/").status_code == 200
