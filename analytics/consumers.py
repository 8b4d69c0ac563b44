"""The live WebSockets: one call's events, or a campaign's live calls and counters.

On connect: a snapshot, then new events in order, each once. Pushed batches arrive through the
channel layer (groups ``call-<id>``, ``campaign-<id>``) when it is shared between processes; the
database is read every half second when it is not, and every few seconds anyway (see analytics.live).

Close codes: 4400 a bad ``?after=``, 4401 not logged in, 4404 no such call or campaign in the user's
organizations. The socket is accepted before it is closed so that a browser can read the code (a
refusal during the handshake reaches it as a bare 1006).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404

from analytics import live
from campaigns.models import Call, Campaign
from newvoice.tenancy import get_for_user

logger = logging.getLogger(__name__)


class LiveConsumer(AsyncJsonWebsocketConsumer):
    model: type  # Call or Campaign
    watch: live.Watch | None = None
    follower: asyncio.Task | None = None

    async def connect(self):
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        try:
            after = live.parse_after(self.scope.get("query_string", b""))
        except ValueError:
            await self.close(code=4400)
            return
        pk = int(self.scope["url_route"]["kwargs"]["pk"])
        if not await database_sync_to_async(self._visible)(user, pk):
            await self.close(code=4404)  # another organization's call looks like a missing one
            return
        self.watch = live.Watch(after=after, **{f"{self.model._meta.model_name}_id": pk})
        self.push = live.is_shared(self.channel_layer)
        if self.push:  # before the snapshot: whatever commits meanwhile is queued, and dropped as a repeat
            for group in self.watch.groups():
                await self.channel_layer.group_add(group, self.channel_name)
                self.groups.append(group)
        try:
            snapshot = await database_sync_to_async(self.watch.snapshot)()
        except ObjectDoesNotExist:
            await self.close(code=4404)
            return
        self.lock = asyncio.Lock()
        await self.send_json(snapshot)
        self.follower = asyncio.get_running_loop().create_task(self._follow())

    def _visible(self, user, pk: int) -> bool:
        try:
            get_for_user(self.model.objects, user, pk)
        except Http404:
            return False
        return True

    async def call_events(self, message):
        """A batch pushed by ``analytics.live.publish``."""
        if self.watch is None:
            return
        async with self.lock:
            out = self.watch.take(message)
            if out is None:
                out = await database_sync_to_async(self.watch.fill)(message)
            for item in out:
                await self.send_json(item)

    async def _follow(self) -> None:
        """Poll (without a shared layer) or check now and then (with one); refresh campaign counters."""
        every = live.RECONCILE_SECONDS if self.push else live.POLL_SECONDS
        checked = counted = time.monotonic()
        while True:
            await asyncio.sleep(live.POLL_SECONDS)
            now = time.monotonic()
            try:
                if not self.push or now - checked >= every:
                    checked = now
                    async with self.lock:
                        for item in await database_sync_to_async(self.watch.catch_up)(every=every):
                            await self.send_json(item)
                if self.watch.campaign_id and (self.watch.dirty or now - counted >= live.COUNTERS_SECONDS):
                    counted = now
                    counters = await database_sync_to_async(self.watch.counters_update)()
                    if counters is not None:
                        await self.send_json({"type": "counters", "counters": counters})
            except Exception:  # a database hiccup must not end the stream; the next round catches up
                logger.exception("Live stream %s could not catch up", self.watch.groups())

    async def receive_json(self, content, **kwargs):
        pass  # the stream is one-way

    async def disconnect(self, code):
        if self.follower is not None:
            self.follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.follower


class CallStreamConsumer(LiveConsumer):
    model = Call


class CampaignStreamConsumer(LiveConsumer):
    model = Campaign
