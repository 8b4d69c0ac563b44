"""The live WebSockets: one call's events, or a campaign's live calls and counters.

On connect: a snapshot, then new events in order, each once. Pushed batches arrive through the
channel layer (groups ``call-<id>``, ``campaign-<id>``) when it is shared between processes; the
database is read every half second when it is not, and every few seconds anyway (see analytics.watch).

Close codes: 4400 a bad ``?after=``, 4401 not logged in, 4404 no such call or campaign in the user's
organizations. The socket is accepted before it is closed so that a browser can read the code (a
refusal during the handshake reaches it as a bare 1006).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404

from analytics import counters
from analytics.watch import POLL_SECONDS, RECONCILE_SECONDS, Watch, parse_after
from campaigns import push
from campaigns.models import Call, Campaign
from tenancy.scoping import get_for_user

logger = logging.getLogger(__name__)

INBOX_SIZE = 1000  # pushed batches waiting for one watcher; beyond it they are dropped, and read from the database
GROUP_REFRESH_SECONDS = 30  # groups are re-joined this often: a restarted Redis has forgotten them


class Relay:
    """The one member of the live groups for a process (and event loop).

    With one channel per watcher, the Redis layer hands a campaign's batch to each of the process's
    watchers through its receive loop, a cost per watcher: with 200 watchers of one campaign that was
    most of the server's time and put the p99 latency over half a second. The relay receives each
    batch once and puts it in the inbox of every watcher of its group in this process.
    """

    _relays: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, layer) -> Relay:
        loop = asyncio.get_running_loop()
        relay = cls._relays.get(loop)
        if relay is None or relay.layer is not layer:
            relay = cls._relays[loop] = cls(layer)
        return relay

    def __init__(self, layer):
        self.layer = layer
        self.inboxes: dict[str, set[asyncio.Queue]] = {}
        self.channel: str | None = None
        self.lock = asyncio.Lock()
        self.tasks: list[asyncio.Task] = []
        self.healthy = True  # False while the layer fails: watchers read the database at the polling pace

    async def join(self, group: str, inbox: asyncio.Queue) -> None:
        async with self.lock:
            if self.channel is None:
                self.channel = await self.layer.new_channel()  # the layer's own prefix: its receive loop serves it
                loop = asyncio.get_running_loop()
                self.tasks = [loop.create_task(self._receive()), loop.create_task(self._keep_groups())]
            if group not in self.inboxes:
                self.inboxes[group] = set()
                try:
                    await self.layer.group_add(group, self.channel)
                except Exception:  # Redis is down: the receive loop re-joins once it is back
                    self.healthy = False
            self.inboxes[group].add(inbox)

    async def leave(self, group: str, inbox: asyncio.Queue) -> None:
        async with self.lock:
            inboxes = self.inboxes.get(group)
            if inboxes is None:
                return
            inboxes.discard(inbox)
            if not inboxes:
                del self.inboxes[group]
                with contextlib.suppress(Exception):  # Redis down: its group expiry forgets the member
                    await self.layer.group_discard(group, self.channel)
            if not self.inboxes:  # the last watcher left: stop receiving
                for task in self.tasks:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                self.channel, self.tasks = None, []

    async def _receive(self) -> None:
        while True:
            if not self.healthy:  # a restarted Redis has forgotten the groups: join them again first
                self.healthy = await self._rejoin()
                if not self.healthy:
                    await asyncio.sleep(1)
                    continue
            try:
                message = await self.layer.receive(self.channel)
            except Exception:  # Redis went away: watchers read the database meanwhile
                if self.healthy:
                    logger.warning("Live relay could not receive; watchers read the database until it can", exc_info=True)
                self.healthy = False
                await asyncio.sleep(1)
                continue
            for inbox in self.inboxes.get(message.get("group"), ()):
                with contextlib.suppress(asyncio.QueueFull):
                    inbox.put_nowait(message)

    async def _keep_groups(self) -> None:
        while True:
            await asyncio.sleep(GROUP_REFRESH_SECONDS)
            await self._rejoin()

    async def _rejoin(self) -> bool:
        try:
            for group in list(self.inboxes):
                await self.layer.group_add(group, self.channel)
        except Exception:
            return False
        return True


class LiveConsumer(AsyncJsonWebsocketConsumer):
    model: type  # Call or Campaign
    watch: Watch | None = None
    relay: Relay | None = None
    tasks: tuple = ()
    # No channel of its own: Channels would read it in the consumer's main loop, where a Redis outage
    # raises and closes the socket. Pushes arrive through the process's Relay instead.
    channel_layer_alias = "newvoice-live-no-own-channel"

    async def connect(self):
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        try:
            after = parse_after(self.scope.get("query_string", b""))
        except ValueError:
            await self.close(code=4400)
            return
        pk = int(self.scope["url_route"]["kwargs"]["pk"])
        if not await database_sync_to_async(self._visible)(user, pk):
            await self.close(code=4404)  # another organization's call looks like a missing one
            return
        self.watch = Watch(after=after, **{f"{self.model._meta.model_name}_id": pk})
        layer = get_channel_layer()
        self.push = push.is_shared(layer)
        self.inbox: asyncio.Queue = asyncio.Queue(maxsize=INBOX_SIZE)
        if self.push:  # before the snapshot: whatever commits meanwhile waits in the inbox, and is dropped as a repeat
            self.relay = Relay.of(layer)
            for group in self.watch.groups():
                await self.relay.join(group, self.inbox)
        try:
            snapshot = await database_sync_to_async(self.watch.snapshot)()
        except ObjectDoesNotExist:
            await self.close(code=4404)
            return
        self.lock = asyncio.Lock()
        await self.send_json(snapshot)
        loop = asyncio.get_running_loop()
        self.tasks = (loop.create_task(self._pushed()), loop.create_task(self._follow()))

    def _visible(self, user, pk: int) -> bool:
        try:
            get_for_user(self.model.objects, user, pk)
        except Http404:
            return False
        return True

    async def _pushed(self) -> None:
        """Batches pushed by ``campaigns.push.publish``, through the relay."""
        while True:
            batch = await self.inbox.get()
            async with self.lock:
                out = self.watch.take(batch)
                if out is None:
                    out = await database_sync_to_async(self.watch.fill)(batch)
                for item in out:
                    await self.send_json(item)

    async def _follow(self) -> None:
        """Poll (without a shared layer) or check now and then (with one); refresh campaign counters."""
        checked = counted = time.monotonic()
        while True:
            await asyncio.sleep(POLL_SECONDS)
            now = time.monotonic()
            # Pushed-to watchers check the database now and then; while the layer is down, at the polling pace.
            pushed = self.push and self.relay is not None and self.relay.healthy
            every = RECONCILE_SECONDS if pushed else POLL_SECONDS
            try:
                if not pushed or now - checked >= every:
                    checked = now
                    async with self.lock:
                        for item in await database_sync_to_async(self.watch.catch_up)(every=every):
                            await self.send_json(item)
                if self.watch.campaign_id and (self.watch.dirty or now - counted >= counters.EVERY_SECONDS):
                    counted = now
                    campaign_id, after = self.watch.campaign_id, self.watch.dirty_at if self.watch.dirty else 0.0
                    counts = counters.cached_counts(campaign_id, read_after=after) or await database_sync_to_async(
                        counters.campaign_counts
                    )(campaign_id, read_after=after)
                    changed = self.watch.counters_update(counts)
                    if changed is not None:
                        await self.send_json({"type": "counters", "counters": changed})
            except Exception:  # a database hiccup must not end the stream; the next round catches up
                logger.exception("Live stream %s could not catch up", self.watch.groups())

    async def receive_json(self, content, **kwargs):
        pass  # the stream is one-way

    async def disconnect(self, code):
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.relay is not None:
            for group in self.watch.groups():
                await self.relay.leave(group, self.inbox)


class CallStreamConsumer(LiveConsumer):
    model = Call


class CampaignStreamConsumer(LiveConsumer):
    model = Campaign
