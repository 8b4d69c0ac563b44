"""Session events of a call, into the database in order.

The agent session emits events on the event loop; the database is written from a single consumer
task through ``sync_to_async``, so events keep their order and the loop never blocks on the ORM.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async

from campaigns.actions import add_to_do_not_call
from campaigns.models import Call, CallLog, DoNotCallEntry

logger = logging.getLogger(__name__)


class CallTelemetry:
    def __init__(self, call: Call, *, hang_up: Callable[[], Awaitable[None]] | None = None):
        self.call = call
        self._hang_up = hang_up
        self._queue: asyncio.Queue[tuple[str, str, str, dict[str, Any]] | None] = asyncio.Queue()
        self._writer: asyncio.Task | None = None
        self._usage: list[dict[str, Any]] = []
        self._answered_at: float | None = None  # wall clock: the greeting's latency counts from here
        self._greeted = False
        self._user_done_at: float | None = None  # the callee's last line ended: the next reply's latency counts from here
        self._line = None  # a PhoneLine, when the call runs on one in this process
        self._vad_ended_at: float | None = None

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
        if self._answered_at is None:
            self._answered_at = time.time()
        session.on("conversation_item_added", self._item_added)
        session.on("session_usage_updated", self._usage_updated)
        session.on(
            "agent_false_interruption",
            lambda ev: self.put("interruption", role="assistant", data={"false": True, "resumed": bool(ev.resumed)}),
        )
        session.on("agent_state_changed", lambda ev: self.put("state", role="assistant", data={"state": ev.new_state}))
        session.on("user_state_changed", self._user_state_changed)
        session.on("error", lambda ev: self.put("error", text=str(ev.error), data={"source": type(ev.source).__name__}))

    def listen_to(self, line) -> None:
        """A ``PhoneLine`` in this process: it knows when each side really spoke, so the gaps are
        measured at the line rather than estimated by the VAD."""
        self._line = line

    def _user_state_changed(self, ev) -> None:
        if ev.old_state == "speaking":
            self._vad_ended_at = time.time()  # the VAD has just called the end of the callee's speech
        self.put("state", role="user", data={"state": ev.new_state})

    def _true_end(self, estimate: float | None) -> float | None:
        """When the callee's latest speech really ended: from the line when there is one."""
        line = self._line
        if line is None:
            return estimate
        ended = [u.ended_at for u in line.log.callee if u.ended_at is not None and u.ended_at <= time.time()]
        return ended[-1] if ended else estimate

    def _item_added(self, ev) -> None:
        item = ev.item
        if getattr(item, "type", "") != "message" or item.role not in ("user", "assistant"):
            return
        data: dict[str, Any] = {"interrupted": bool(item.interrupted)}
        data.update(self._turn_metrics(item))
        self.put("transcript", role=item.role, text=item.text_content or "", data=data)

    def _turn_metrics(self, item) -> dict[str, Any]:
        """Per-turn timings in milliseconds, as far as the providers reported them.

        The response latency is livekit's ``e2e_latency`` (end of the callee's speech to the bot's
        first audio) on a voice call; in text mode, where nobody speaks, it is measured from the
        callee's line arriving to the reply starting to play. The greeting's counts from the answer.
        """
        metrics = dict(getattr(item, "metrics", None) or {})
        out: dict[str, Any] = {}
        if item.role == "user":
            stopped = metrics.get("stopped_speaking_at")
            self._user_done_at = self._true_end(stopped) or getattr(item, "created_at", None) or time.time()
            for key, name in (("end_of_turn_delay", "eou_delay_ms"), ("transcription_delay", "transcription_delay_ms")):
                if metrics.get(key) is not None:
                    out[name] = round(metrics[key] * 1000, 1)
            # On audio: how long after the speech ended the VAD called it, and how long recognition took after that.
            vad_ended, true_end = self._vad_ended_at, self._true_end(stopped)
            if vad_ended is not None and true_end is not None and stopped is not None:
                out["vad_lag_ms"] = round(max(vad_ended - true_end, 0.0) * 1000, 1)
                if metrics.get("transcription_delay") is not None:
                    out["stt_ms"] = round(max(stopped + metrics["transcription_delay"] - vad_ended, 0.0) * 1000, 1)
                self._vad_ended_at = None
            if stopped is not None:
                out["started_at"] = metrics.get("started_speaking_at")
            return out
        started = metrics.get("started_speaking_at")
        since = self._user_done_at if self._greeted else self._answered_at
        if started is not None:
            out["started_at"] = started
        if self._line is not None and started is not None and since is not None:
            out["latency_ms"] = round(max(started - since, 0.0) * 1000, 1)  # measured at the line
        elif metrics.get("e2e_latency") is not None and self._greeted:
            out["latency_ms"] = round(metrics["e2e_latency"] * 1000, 1)
        elif started is not None and since is not None:
            out["latency_ms"] = round(max(started - since, 0.0) * 1000, 1)
        if not self._greeted:
            out["greeting"] = True
        self._greeted = True
        self._user_done_at = None  # a second reply to the same line is not another response
        for key, name in (("llm_node_ttft", "llm_ttft_ms"), ("tts_node_ttfb", "tts_ttfb_ms")):
            if metrics.get(key) is not None:
                out[name] = round(metrics[key] * 1000, 1)
        if started is not None and metrics.get("stopped_speaking_at") is not None:
            out["spoken_ms"] = round((metrics["stopped_speaking_at"] - started) * 1000, 1)
        return out

    def _usage_updated(self, ev) -> None:
        self._usage = [entry.model_dump(mode="json") for entry in ev.usage.model_usage]

    def put(self, kind: str, *, role: str = "", text: str = "", data: dict[str, Any] | None = None) -> None:
        if kind == "answered":
            self._answered_at = time.time()
        self._enqueue(kind, role, text, data or {})

    def _enqueue(self, kind: str, role: str, text: str, data: dict[str, Any]) -> None:
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())
        self._queue.put_nowait((kind, role, text, data))

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
        """Write everything queued so far, with what the providers billed for (once, at the end of
        the conversation: analytics prices it), then stop the writer. The call's end is written by
        ``finish_call`` after this."""
        if self._usage:
            self._enqueue("metrics", "", "", {"usage": self._usage})
            self._usage = []
        if self._writer is not None:
            self._queue.put_nowait(None)
            await self._writer
            self._writer = None
