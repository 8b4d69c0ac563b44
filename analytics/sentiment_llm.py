"""The callee's sentiment read by the skillbase's own language model, when it has one.

The lexicon's score is written when the call ends; if the skillbase talks to an LLM provider (and
its key is set), this reads the callee's lines afterwards, on a background worker (never inside the
call's transaction), and replaces the score and label. Any failure keeps the lexicon's answer.
"""

from __future__ import annotations

import json
import logging
import os
import re

from analytics.models import CallMetrics
from campaigns.models import CallLog
from skillbases import provider_rules
from skillbases.schemas import SkillbaseConfig

logger = logging.getLogger(__name__)
TIMEOUT_SECONDS = 20
LABELS = ("positive", "neutral", "negative")
INSTRUCTIONS = (
    "You rate how the callee felt in an outbound phone call made by a voice bot. You get only the callee's lines, "
    "in order, in any language. Answer with JSON only: "
    '{"score": <number from -1 (very negative) to 1 (very positive)>, "label": "positive" | "neutral" | "negative"}.'
)


def configured(config: SkillbaseConfig) -> bool:
    return config.llm.provider != "flow" and bool(os.environ.get(config.llm.api_key_env))


def _parse(text: str) -> tuple[float, str] | None:
    match = re.search(r"\{.*\}", text or "", re.S)
    if not match:
        return None
    try:
        answer = json.loads(match.group(0))
        score = max(-1.0, min(1.0, float(answer["score"])))
        label = str(answer["label"]).lower()
    except (ValueError, KeyError, TypeError):
        return None
    return (round(score, 3), label) if label in LABELS else None


def rate_call(call_id: int) -> bool:
    """q2 task: ask the LLM; True when the call's sentiment was replaced."""
    from openai import OpenAI

    metrics = CallMetrics.objects.select_related("skillbase_version").filter(call_id=call_id).first()
    if metrics is None:
        return False
    try:
        config = SkillbaseConfig.model_validate(metrics.skillbase_version.config)
    except ValueError:
        return False
    lines = [
        t
        for t in CallLog.objects.filter(call_id=call_id, kind="transcript", role="user").order_by("seq").values_list("text", flat=True)
        if t.strip()
    ]
    if not lines or not configured(config):
        return False
    if config.llm.base_url:
        try:
            provider_rules.check_before_sending(config.llm.base_url)
        except ValueError:
            logger.warning("Not sending call %s to its skillbase's LLM: %s", call_id, config.llm.base_url)
            return False
    client = OpenAI(
        api_key=os.environ[config.llm.api_key_env], base_url=config.llm.base_url or None, timeout=TIMEOUT_SECONDS, max_retries=1
    )
    try:
        stream = client.chat.completions.create(
            model=config.llm.model,
            temperature=0,
            stream=True,
            messages=[{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": "\n".join(f"- {line}" for line in lines)}],
        )
        parsed = _parse("".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices))
    except Exception as exc:  # a provider outage must not lose the lexicon's answer
        logger.warning("Sentiment of call %s: the language model failed (%s); keeping the lexicon's.", call_id, exc)
        return False
    finally:
        client.close()
    if parsed is None:
        logger.warning("Sentiment of call %s: the language model's answer was not the asked JSON; keeping the lexicon's.", call_id)
        return False
    score, label = parsed
    CallMetrics.objects.filter(pk=metrics.pk).update(sentiment_score=score, sentiment_label=label, sentiment_source="llm")
    return True
