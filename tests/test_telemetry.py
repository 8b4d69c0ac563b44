"""Telemetry of a real agent session (text mode, livekit-agents' fake job context): per-turn
latency and provider usage reach the call's log, and the call's metrics and cost come from them."""

from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from analytics.models import CallMetrics
from analytics.price_list import seed_list_prices
from campaigns.models import CallLog
from tests.support.openai_server import OpenAIServer, ToolCall, answers
from tests.test_agent_job import make_call, run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def list_prices(transactional_db):
    """A transactional test's database is flushed after each test, taking the migration's prices with it."""
    seed_list_prices()


KEY_ENV, KEY = "TEST_OPENAI_KEY", "sk-test-local-endpoint"


async def test_a_flow_engine_call_logs_latency_per_turn_and_is_measured():
    call = await sync_to_async(make_call)()
    await run(call, ["Да, слушаю", "давайте", "завтра в 15:30", "нет, спасибо"])
    bot = [e async for e in CallLog.objects.filter(call=call, kind="transcript", role="assistant").order_by("seq")]
    assert bot[0].data.get("greeting") is True and bot[0].data["latency_ms"] >= 0
    assert all("latency_ms" in e.data and "greeting" not in e.data for e in bot[1:])
    usage = await CallLog.objects.filter(call=call, kind="metrics").alast()
    assert usage is not None and usage.data["usage"][0]["type"] == "llm_usage"
    metrics = await CallMetrics.objects.aget(call=call)
    assert metrics.turns == 4 and metrics.user_words == 8
    assert metrics.first_greeting_ms == bot[0].data["latency_ms"]
    assert metrics.latency_max_ms == max(e.data["latency_ms"] for e in bot[1:])
    assert metrics.llm_input_tokens > 0 and metrics.cost_llm == 0  # the flow engine is free
    assert metrics.steps_reached == ["greeting", "offer", "pick_time", "booked", "farewell"]
    assert metrics.outcome == "success" and metrics.is_priced


@pytest.fixture
async def openai_server():
    async with OpenAIServer(api_key=KEY) as server:
        yield server


async def test_tokens_an_llm_provider_reports_are_priced(openai_server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    openai_server.script = answers("Здравствуйте, Анна! Записать вас?", ToolCall("end_call", {"outcome": "refusal"}), "Всего доброго!")
    llm = {"provider": "openai", "model": "gpt-4o-mini", "base_url": openai_server.url, "api_key_env": KEY_ENV}
    call = await sync_to_async(make_call)(llm=llm)
    await run(call, ["Нет, не надо"])
    metrics = await CallMetrics.objects.aget(call=call)
    billed_in = sum(r.usage["prompt_tokens"] for r in openai_server.requests if r.usage)
    billed_out = sum(r.usage["completion_tokens"] for r in openai_server.requests if r.usage)
    assert (metrics.llm_input_tokens, metrics.llm_output_tokens) == (billed_in, billed_out) and billed_in > 0
    expected = (Decimal("0.15") * billed_in + Decimal("0.60") * billed_out) / 1_000_000
    assert metrics.cost_llm == expected.quantize(Decimal("0.000001"))
