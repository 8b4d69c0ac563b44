"""A call's ``CallMetrics``, built from its ``CallLog`` when the call ends.

The log is the single record of what happened (transcript with per-turn timings, steps, tool calls,
provider usage), so a call that ended any way — finished by its agent, failed to dial, or recovered
by the reaper — is measured the same way from whatever it logged.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from analytics import rollups, sentiment_llm
from analytics.models import CallMetrics, StepReached
from analytics.pricing import PriceBook, Usage
from analytics.quality import qa_flags, sentiment
from analytics.rollups import percentile
from campaigns.models import Call, CallLog, Campaign
from skillbases.schemas import SkillbaseConfig

logger = logging.getLogger(__name__)

SIMULATED_WORDS_PER_SECOND = 2.5  # how fast simulated callees speak: their "audio" for speech-to-text
TELEPHONY = {"livekit": ("livekit", "sip"), "simulator": ("livekit", "sip")}  # simulated calls cost what a real one would


def _config(call: Call) -> SkillbaseConfig | None:
    try:
        return SkillbaseConfig.model_validate(call.skillbase_version.config)
    except Exception:  # an old version that no longer parses is priced as unknown, not crashed on
        return None


def _usage(call: Call, config: SkillbaseConfig | None, reported: list[dict], user_lines: list[str], talk: float) -> Usage:
    usage = Usage(telephony=TELEPHONY.get(call.dialer, (call.dialer, "")), telephony_seconds=talk)
    if config is not None:
        usage.llm = (config.llm.provider, "" if config.llm.provider == "flow" else config.llm.model)
        usage.stt = (config.voice.stt_provider, config.voice.stt_model)
        usage.tts = (config.voice.tts_provider, config.voice.tts_model)
    for entry in reported:
        kind = entry.get("type")
        if kind == "llm_usage":
            usage.llm_input_tokens += int(entry.get("input_tokens") or 0)
            usage.llm_output_tokens += int(entry.get("output_tokens") or 0)
        elif kind == "tts_usage":
            usage.tts_characters += int(entry.get("characters_count") or 0)
            usage.tts_seconds += float(entry.get("audio_duration") or 0)
        elif kind == "stt_usage":
            usage.stt_seconds += float(entry.get("audio_duration") or 0)
    if call.is_simulated and not usage.stt_seconds:
        # A simulated callee sends text; speech-to-text would have heard this much of them.
        usage.stt_seconds = round(sum(len(line.split()) for line in user_lines) / SIMULATED_WORDS_PER_SECOND, 2)
    return usage


def _seconds(later, earlier) -> float | None:
    if later is None or earlier is None:
        return None
    return max((later - earlier).total_seconds(), 0.0)


def build_metrics(call: Call) -> tuple[CallMetrics, list[str]]:
    logs = list(CallLog.objects.filter(call=call).order_by("seq"))
    user_lines, bot_lines, latencies, steps = [], [], [], []
    greeting_ms = None
    interruptions = false_interruptions = away = 0
    reported: list[dict] = []
    ring = talk = None
    for log in logs:
        data = log.data or {}
        if log.kind == CallLog.Kind.TRANSCRIPT and log.role == CallLog.Role.USER:
            user_lines.append(log.text)
        elif log.kind == CallLog.Kind.TRANSCRIPT and log.role == CallLog.Role.ASSISTANT:
            bot_lines.append(log.text)
            interruptions += bool(data.get("interrupted"))
            if data.get("latency_ms") is not None:
                if data.get("greeting"):
                    greeting_ms = greeting_ms if greeting_ms is not None else float(data["latency_ms"])
                else:
                    latencies.append(float(data["latency_ms"]))
        elif log.kind == CallLog.Kind.INTERRUPTION and data.get("false"):
            false_interruptions += 1
        elif log.kind == CallLog.Kind.STATE and log.role == CallLog.Role.USER and data.get("state") == "away":
            away += 1
        elif log.kind == CallLog.Kind.STEP and data.get("step") and data["step"] not in steps:
            steps.append(str(data["step"])[:64])
        elif log.kind == CallLog.Kind.METRICS and isinstance(data.get("usage"), list):
            reported = data["usage"]  # cumulative for the session: the last report is the total
        elif log.kind in (CallLog.Kind.ANSWERED, CallLog.Kind.CALL_ENDED):
            ring = data.get("ring_seconds", ring)
            talk = data.get("talk_seconds", talk)
    if call.last_step and call.last_step not in steps:
        steps.append(call.last_step)
    ended_at = call.ended_at or timezone.now()
    ring = ring if ring is not None else _seconds(call.answered_at or ended_at, call.dial_started_at)
    talk = talk if talk is not None else (_seconds(ended_at, call.answered_at) if call.answered_at else 0.0)
    total = (ring or 0.0) + (talk or 0.0)
    config = _config(call)
    usage = _usage(call, config, reported, user_lines, talk or 0.0)
    cost = PriceBook(call.organization_id, timezone.localdate(ended_at)).price(usage)
    score, label = sentiment(user_lines)
    metrics = CallMetrics(
        organization_id=call.organization_id,
        call=call,
        campaign_id=call.campaign_id,
        skillbase_id=call.skillbase_version.skillbase_id,
        skillbase_version_id=call.skillbase_version_id,
        outcome=call.outcome,
        is_simulated=call.is_simulated,
        ended_at=ended_at,
        ring_seconds=ring,
        talk_seconds=talk,
        total_seconds=total,
        turns=sum(1 for line in user_lines if line.strip()),
        user_words=sum(len(line.split()) for line in user_lines),
        bot_words=sum(len(line.split()) for line in bot_lines),
        interruptions=interruptions,
        false_interruptions=false_interruptions,
        first_greeting_ms=greeting_ms,
        latency_mean_ms=round(sum(latencies) / len(latencies), 1) if latencies else None,
        latency_p50_ms=percentile(latencies, 0.5),
        latency_p95_ms=percentile(latencies, 0.95),
        latency_max_ms=max(latencies) if latencies else None,
        llm_input_tokens=usage.llm_input_tokens,
        llm_output_tokens=usage.llm_output_tokens,
        tts_characters=usage.tts_characters,
        stt_seconds=usage.stt_seconds,
        tts_seconds=round(usage.tts_seconds, 2),
        telephony_seconds=usage.telephony_seconds,
        cost_stt=cost.parts["stt"],
        cost_llm=cost.parts["llm"],
        cost_tts=cost.parts["tts"],
        cost_telephony=cost.parts["telephony"],
        cost_total=cost.total,
        currency=cost.currency,
        price_version=cost.version,
        is_priced=cost.priced,
        unpriced_reason=" ".join(cost.problems)[:500],
        usage=reported,
        sentiment_score=score,
        sentiment_label=label,
        sentiment_source="lexicon" if label else "",
        qa_flags=qa_flags(user_lines, bot_lines, [*latencies, *([greeting_ms] if greeting_ms is not None else [])], away),
        last_step=call.last_step,
        steps_reached=steps,
        collected=call.collected or {},
    )
    return metrics, steps


def _priced(metrics: CallMetrics) -> Decimal:
    """The components that have a price (a budget counts them even when another one has none)."""
    parts = (metrics.cost_stt, metrics.cost_llm, metrics.cost_tts, metrics.cost_telephony)
    return sum((part for part in parts if part is not None), Decimal(0))


def measure_call(call: Call) -> tuple[CallMetrics, Decimal]:
    """Measure an ended call and store its metrics, steps and daily figures, replacing what an
    earlier measurement stored; returns them and how much the call's priced cost changed (what the
    campaign's spend must add). The components that have a price count even when another one has none: a budget must
    not ignore them."""
    metrics, steps = build_metrics(call)
    previous = CallMetrics.objects.filter(call=call).first()
    spent_before = Decimal(0)
    if previous is not None:
        spent_before = _priced(previous)
        rollups.apply(previous, previous.steps_reached, -1)
        metrics.pk = previous.pk
        StepReached.objects.filter(metrics_id=previous.pk).delete()
    metrics.save()
    StepReached.objects.bulk_create(
        StepReached(
            metrics=metrics,
            organization_id=call.organization_id,
            campaign_id=call.campaign_id,
            skillbase_version_id=call.skillbase_version_id,
            step=step,
            position=i,
            ended_at=metrics.ended_at,
        )  # fmt: skip
        for i, step in enumerate(steps)
    )
    rollups.apply(metrics, steps, 1)
    return metrics, _priced(metrics) - spent_before


def measure_ended_call(call: Call) -> Decimal:
    """The measurer ``finish_call`` runs (``NEWVOICE_CALL_MEASURER``): the call's metrics, and the
    LLM's second opinion of its sentiment queued when the skillbase has an LLM."""
    metrics, added = measure_call(call)
    config = _config(call)
    if metrics.turns and config is not None and sentiment_llm.configured(config):
        transaction.on_commit(lambda: async_task("analytics.sentiment_llm.rate_call", call.pk, task_name=f"sentiment-{call.pk}"))
    return added


@transaction.atomic
def record_call_metrics(call: Call) -> CallMetrics:
    """Measure an ended call again (prices changed, a rebuild): its metrics are replaced, the
    difference in cost goes to its campaign's spend and the campaign's safety rails apply."""
    metrics, added = measure_call(call)
    Campaign.objects.get(pk=call.campaign_id).add_spend(added)
    return metrics
