"""The callee's sentiment from the skillbase's language model (a local OpenAI-compatible endpoint)."""

import pytest
from asgiref.sync import sync_to_async
from django_q.models import OrmQ

from analytics.models import CallMetrics
from analytics.sentiment_llm import rate_call
from tests.support.calls import conversation, ended_call
from tests.support.engine import make_campaign
from tests.support.openai_server import HTTPError, OpenAIServer, answers

pytestmark = pytest.mark.django_db(transaction=True)
KEY_ENV, KEY = "TEST_OPENAI_KEY", "sk-test-local-endpoint"


@pytest.fixture
async def server(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    async with OpenAIServer(api_key=KEY) as running:
        yield running


def _call(org, skillbase_factory, minimal_config, url):
    minimal_config["llm"] = {"provider": "openai", "model": "gpt-4o-mini", "base_url": url, "api_key_env": KEY_ENV}
    campaign = make_campaign(org, skillbase_factory(org, config=minimal_config))
    events = conversation(("assistant", "Добрый день! Записать вас?"), ("user", "Да, конечно, спасибо"), ("user", "Хотя нет, дорого"))
    return ended_call(campaign, events=events)


async def test_the_llm_replaces_the_lexicons_sentiment(server, org, skillbase_factory, minimal_config):
    server.script = answers('{"score": -0.6, "label": "negative"}')
    call = await sync_to_async(_call)(org, skillbase_factory, minimal_config, server.url)
    before = await CallMetrics.objects.aget(call=call)
    assert (before.sentiment_label, before.sentiment_source) == ("positive", "lexicon")
    assert await OrmQ.objects.acount() == 1  # the call's end enqueued the rating for a background worker
    assert await sync_to_async(rate_call)(call.pk) is True
    after = await CallMetrics.objects.aget(call=call)
    assert (after.sentiment_score, after.sentiment_label, after.sentiment_source) == (-0.6, "negative", "llm")
    sent = server.requests[0]
    assert "Да, конечно, спасибо" in sent.messages[-1]["content"] and "Добрый день" not in sent.messages[-1]["content"]


@pytest.mark.parametrize("answer", ["I think the callee was happy.", '{"score": 0.5, "label": "ecstatic"}', HTTPError(500)])
async def test_a_bad_or_failing_answer_keeps_the_lexicons(server, org, skillbase_factory, minimal_config, answer):
    server.script = answers(answer)
    call = await sync_to_async(_call)(org, skillbase_factory, minimal_config, server.url)
    assert await sync_to_async(rate_call)(call.pk) is False
    metrics = await CallMetrics.objects.aget(call=call)
    assert (metrics.sentiment_label, metrics.sentiment_source) == ("positive", "lexicon")


def test_the_flow_engine_needs_no_llm_rating(org, skillbase):
    call = ended_call(make_campaign(org, skillbase), events=conversation(("user", "Да")))
    assert OrmQ.objects.count() == 0 and rate_call(call.pk) is False
