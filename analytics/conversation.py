"""A call's log read as a conversation: who said what and when, how long the bot took to answer,
where the callee cut the bot off, and the steps and tool calls in between."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q
from django.utils.text import Truncator

from campaigns.models import Call, CallLog, CallRecording, Outcome

MAX_EVENTS = 2000  # a call this long is shown from its start; the full log stays in the event list
# Agent state changes come several times a turn and usage reports are priced, not read: neither is shown.
SHOWN = Q(
    kind__in=[
        CallLog.Kind.CALL_STARTED,
        CallLog.Kind.ANSWERED,
        CallLog.Kind.TRANSCRIPT,
        CallLog.Kind.STEP,
        CallLog.Kind.TOOL_CALL,
        CallLog.Kind.INTERRUPTION,
        CallLog.Kind.ERROR,
        CallLog.Kind.CALL_ENDED,
    ]
) | Q(kind=CallLog.Kind.STATE, role=CallLog.Role.USER, data__state="away")


@dataclass
class Entry:
    """One thing shown in the conversation. ``kind`` is a line's speaker ("callee", "bot") or what
    happened between lines ("step", "tool", "interruption", "away", "event", "error")."""

    kind: str
    seq: int
    offset_ms: int
    text: str = ""
    step: str = ""
    latency_ms: float | None = None
    greeting: bool = False
    interrupted: bool = False
    unheard: str = ""  # what the bot meant to say after the callee cut it off
    detail: str = ""
    failed: bool = False
    # On audio, per line: the callee's (how long after its speech ended the VAD called the end, then
    # recognition) and the bot's (language model to first token, voice to first audio).
    vad_lag_ms: float | None = None
    stt_ms: float | None = None
    llm_ms: float | None = None
    tts_ms: float | None = None
    at: float | None = None  # seconds into the call's recording where the line starts


def _tool_call(event: CallLog) -> Entry:
    data = dict(event.data or {})
    name, result, failed = data.pop("tool", "?"), data.pop("result", None), bool(data.pop("error", False))
    arguments = ", ".join(f"{key}={value}" for key, value in data.items())
    detail = "" if result in (None, "") else Truncator(str(result)).chars(120)
    return Entry("tool", event.seq, event.offset_ms, text=f"{name}({arguments})", detail=detail, failed=failed)


def _unheard(full: str, heard: str) -> str:
    return full[len(heard) :].strip() if full.startswith(heard) else ""


def _recording_start(call: Call) -> float | None:
    recording = CallRecording.objects.filter(call=call).first()
    return recording.started_at.timestamp() if recording and recording.available else None


def _number(value) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def conversation(call: Call) -> tuple[list[Entry], bool]:
    """The call's conversation in order, and whether it was cut at ``MAX_EVENTS``."""
    events = list(CallLog.objects.filter(SHOWN, call=call).order_by("seq")[: MAX_EVENTS + 1])
    recorded_from = _recording_start(call)
    entries: list[Entry] = []
    step = ""
    # The agent logs what the bot meant to say (an interruption event) next to the line the callee
    # cut short, in either order: whichever comes first waits for the other.
    cut_off: Entry | None = None
    pending = ""
    for event in events[:MAX_EVENTS]:
        data = event.data or {}
        if event.kind == CallLog.Kind.TRANSCRIPT:
            bot = event.role == CallLog.Role.ASSISTANT
            entry = Entry("bot" if bot else "callee", event.seq, event.offset_ms, text=event.text, step=step)
            entry.vad_lag_ms, entry.stt_ms = _number(data.get("vad_lag_ms")), _number(data.get("stt_ms"))
            entry.llm_ms, entry.tts_ms = _number(data.get("llm_ttft_ms")), _number(data.get("tts_ttfb_ms"))
            started = _number(data.get("started_at"))
            if recorded_from is not None and started is not None:
                entry.at = round(max(started - recorded_from, 0.0), 2)
            if bot:
                entry.latency_ms, entry.greeting = data.get("latency_ms"), bool(data.get("greeting"))
                entry.interrupted = bool(data.get("interrupted"))
                if entry.interrupted and pending:
                    entry.unheard, pending = _unheard(pending, entry.text), ""
                elif entry.interrupted:
                    cut_off = entry
            entries.append(entry)
        elif event.kind == CallLog.Kind.STEP:
            if data.get("step") and data["step"] != step:
                step = str(data["step"])
                entries.append(Entry("step", event.seq, event.offset_ms, step=step))
        elif event.kind == CallLog.Kind.TOOL_CALL:
            entries.append(_tool_call(event))
        elif event.kind == CallLog.Kind.INTERRUPTION and data.get("false"):
            entries.append(Entry("interruption", event.seq, event.offset_ms, detail="resumed" if data.get("resumed") else "stopped"))
        elif event.kind == CallLog.Kind.INTERRUPTION:
            full = str(data.get("full") or "")
            if cut_off is not None:
                cut_off.unheard, cut_off = _unheard(full, cut_off.text), None
            else:
                pending = full
        elif event.kind == CallLog.Kind.STATE:
            entries.append(Entry("away", event.seq, event.offset_ms))
        else:
            kind = "error" if event.kind == CallLog.Kind.ERROR else "event"
            text = event.text or str(data.get("outcome") or "")
            if text in Outcome.values:  # the end says its outcome in the reader's language
                text = str(Outcome(text).label)
            entries.append(Entry(kind, event.seq, event.offset_ms, text=text, detail=event.get_kind_display()))
    return entries, len(events) > MAX_EVENTS
