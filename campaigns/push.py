"""The live push of a call's events: every committed batch of ``CallLog`` rows goes to the groups
``call-<id>`` and ``campaign-<id>`` of a shared channel layer, where the live monitor's watchers
receive it (``analytics.watch``). Without a shared layer nobody listens: watchers read the database.
"""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

logger = logging.getLogger(__name__)


def call_group(call_id: int) -> str:
    return f"call-{call_id}"


def campaign_group(campaign_id: int) -> str:
    return f"campaign-{campaign_id}"


def is_shared(layer) -> bool:
    """Whether ``layer`` carries messages between processes: Redis does, the in-memory layer does not."""
    return layer is not None and not isinstance(layer, InMemoryChannelLayer)


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def event_json(log) -> dict:
    """One ``CallLog`` row as the WebSocket sends it. A ``call_ended`` event names the outcome it
    was written with (in the same transaction as the call's end)."""
    message = {
        "type": "event", "id": log.pk, "call": log.call_id, "campaign": log.campaign_id, "seq": log.seq, "kind": log.kind,
        "role": log.role, "text": log.text, "data": log.data, "offset_ms": log.offset_ms, "created_at": _iso(log.created_at),
    }  # fmt: skip
    if log.kind == "call_ended":
        message["outcome"] = (log.data or {}).get("outcome", "")
    return message


def call_json(call) -> dict:
    # The contact's name only when the task came with the call: publish must not query.
    name = call.task.name if type(call).task.is_cached(call) else ""
    return {
        "id": call.pk, "campaign": call.campaign_id, "task": call.task_id, "phone": call.phone, "name": name,
        "attempt": call.attempt, "status": call.status, "outcome": call.outcome, "persona": call.persona,
        "last_step": call.last_step, "created_at": _iso(call.created_at), "answered_at": _iso(call.answered_at),
        "ended_at": _iso(call.ended_at),
    }  # fmt: skip


def publish(events) -> None:
    """Send committed ``CallLog`` rows to the watchers of their call and campaign.

    Best effort, and never an error for the writer: a watcher that misses a push finds the rows in
    the database. Without a shared layer nobody listens (watchers poll), so nothing is sent.
    """
    layer = get_channel_layer()
    if not events or not is_shared(layer):
        return
    batches: dict[int, list] = {}
    for log in events:
        batches.setdefault(log.call_id, []).append(log)
    messages = []
    for logs in batches.values():
        batch = {"type": "call.events", "call": call_json(logs[0].call), "events": [event_json(log) for log in logs]}
        messages += [{**batch, "group": call_group(logs[0].call_id)}, {**batch, "group": campaign_group(logs[0].campaign_id)}]
    try:
        async_to_sync(_send)(layer, messages)
    except Exception:
        logger.warning("Could not push %d call events to live watchers; they will read them from the database", len(events), exc_info=True)


async def _send(layer, messages: list[dict]) -> None:
    await asyncio.gather(*(layer.group_send(message["group"], message) for message in messages))
