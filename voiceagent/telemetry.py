"""Session events of a call, into the database in order.

The agent session emits events on the event loop; the database is written from a single consumer
task through ``sync_to_async``, so events keep their order and the loop never blocks on the ORM.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async

from analytics.models import CallLog
from campaigns.actions import add_to_do_not_call
from campaigns.models import Call, DoNotCallEntry

logger = logging.getLogger(__name__)


class CallTelemetry:
    def __init__(self, call: Call, *, hang_up: Callable[[], Awaitable[None]] | None = None):
        self.call = call
        self._hang_up = hang_up
        self._queue: asyncio.Queue[tuple[str, str, str, dict[str, Any]] | None] = asyncio.Queue()
        self._writer: asyncio.Task | None = None

    # CallHooks

    async def event(self, kind: str, *, role: str = "", text: str = "", data: dict[str, Any] | None = None) -> None:
        self.put(kind, role=role, text=text, data=data)

    async def opted_out(self) -> None:
        await sync_to_async(add_to_do_not_call)(
            self.call.organization_id,
            self.call.phone,
            reason="Asked on a call not to be called again",
            source=DoNotCallEntry.Source.OPT_OUT,
        )

    async def hang_up(self) -> None:
        if self._hang_up is not None:
            await self._hang_up()

    # Session events

    def attach(self, session) -> None:
        session.on("conversation_item_added", self._item_added)
        session.on("agent_state_changed", lambda ev: self.put("state", role="assistant", data={"state": ev.new_state}))
        session.on("user_state_changed", lambda ev: self.put("state", role="user", data={"state": ev.new_state}))
        session.on("error", lambda ev: self.put("error", text=str(ev.error), data={"source": type(ev.source).__name__}))

    def _item_added(self, ev) -> None:
        item = ev.item
        if getattr(item, "type", "") != "message" or item.role not in ("user", "assistant"):
            return
        data = {"interrupted": bool(item.interrupted)}
        self.put("transcript", role=item.role, text=item.text_content or "", data=data)

    def put(self, kind: str, *, role: str = "", text: str = "", data: dict[str, Any] | None = None) -> None:
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())
        self._queue.put_nowait((kind, role, text, data or {}))

    async def _write(self) -> None:
        done = False
        while not done:
            batch = [await self._queue.get()]
            while not self._queue.empty():  # whatever else is waiting goes in the same transaction
                batch.append(self._queue.get_nowait())
            done = batch[-1] is None
            events = [item for item in batch if item is not None]
            if not events:
                continue
            try:
                await sync_to_async(CallLog.objects.append_many)(self.call, events)
            except Exception:  # telemetry must never take a live call down
                logger.exception("Could not record %d events of call %s", len(events), self.call.pk)

    async def flush(self) -> None:
        """Write everything queued so far, then stop the writer."""
        if self._writer is not None:
            self._queue.put_nowait(None)
            await self._writer
            self._writer = None
