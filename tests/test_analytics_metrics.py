"""Every ended call is measured from its log and priced from the price table (real database)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics.call_metrics import percentile, record_call_metrics
from analytics.models import CallMetrics, Price, StepReached
from analytics.pricing import PriceBook, Usage
from analytics.quality import qa_flags, sentiment
from campaigns.models import Call, Campaign
from tests.support.calls import conversation, ended_call
from tests.support.engine import make_campaign, started, use_scripted_dialer

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 24)


@pytest.fixture
def campaign(org, skillbase):
    return make_campaign(org, skillbase)


def llm_usage(model="gpt-4o-mini", provider="openai", input_tokens=1000, output_tokens=200):
    return {"type": "llm_usage", "provider": provider, "model": model, "input_tokens": input_tokens, "output_tokens": output_tokens}


# Pricing


def test_the_newest_list_price_in_effect_on_the_day_is_used(org):
    Price.objects.create(
        component="llm_input", provider="acme", model="m1", unit="1m_tokens", amount="1.00", effective_from=dt.date(2026, 1, 1)
    )
    Price.objects.create(
        component="llm_input", provider="acme", model="m1", unit="1m_tokens", amount="2.00", effective_from=dt.date(2026, 6, 1)
    )
    Price.objects.create(
        component="llm_input", provider="acme", model="m1", unit="1m_tokens", amount="9.00", effective_from=dt.date(2027, 1, 1)
    )
    assert PriceBook(org.pk, dt.date(2026, 3, 1)).find("llm_input", "acme", "m1").amount == Decimal("1.00")
    assert PriceBook(org.pk, dt.date(2026, 6, 1)).find("llm_input", "acme", "m1").amount == Decimal("2.00")
    assert PriceBook(org.pk, dt.date(2025, 12, 31)).find("llm_input", "acme", "m1") is None


def test_an_organizations_own_price_beats_the_list_price_and_a_model_beats_the_catch_all(org, other_org):
    Price.objects.create(component="tts", provider="acme", model="", unit="1m_characters", amount="10", effective_from=dt.date(2026, 1, 1))
    Price.objects.create(
        component="tts", provider="acme", model="hd", unit="1m_characters", amount="30", effective_from=dt.date(2026, 1, 1)
    )
    Price.objects.create(
        organization=org,
        component="tts",
        provider="acme",
        model="hd",
        unit="1m_characters",
        amount="20",
        effective_from=dt.date(2025, 1, 1),
    )
    assert PriceBook(org.pk, TODAY).find("tts", "acme", "hd").amount == Decimal("20")
    assert PriceBook(other_org.pk, TODAY).find("tts", "acme", "hd").amount == Decimal("30")
    assert PriceBook(other_org.pk, TODAY).find("tts", "acme", "lite").amount == Decimal("10")


def test_every_component_is_priced_in_its_unit_exactly(org):
    usage = Usage(
        llm=("openai", "gpt-4o-mini"), llm_input_tokens=2_000_000, llm_output_tokens=500_000,
        stt=("deepgram", "nova-3"), stt_seconds=90, tts=("deepgram", "aura-2"), tts_characters=1000,
        telephony=("livekit", "sip"), telephony_seconds=120,
    )  # fmt: skip
    cost = PriceBook(org.pk, TODAY).price(usage)
    assert cost.priced and cost.problems == []
    assert cost.parts == {
        "llm": Decimal("0.600000"),  # 2 x 0.15 + 0.5 x 0.60
        "stt": Decimal("0.011550"),  # 1.5 min x 0.0077
        "tts": Decimal("0.030000"),  # 1000 / 1M x 30
        "telephony": Decimal("0.020000"),  # 2 min x 0.01
    }
    assert cost.total == Decimal("0.661550") and cost.currency == "USD" and cost.version == "2026-01-01"


def test_tts_priced_per_minute_uses_the_audio_length(org):
    usage = Usage(tts=("openai", "gpt-4o-mini-tts"), tts_characters=5000, tts_seconds=120)
    assert PriceBook(org.pk, TODAY).price(usage).parts["tts"] == Decimal("0.030000")


def test_a_missing_price_leaves_the_call_unpriced_with_the_reason_never_zero(org):
    cost = PriceBook(org.pk, TODAY).price(Usage(llm=("openai", "gpt-9-turbo"), llm_input_tokens=10, telephony_seconds=60))
    assert not cost.priced and cost.total is None and cost.parts["llm"] is None
    assert cost.problems == ["No price for LLM input openai/gpt-9-turbo on 2026-11-24."]
    assert cost.known_total == Decimal("0.010000")  # the telephony minute still counts


def test_a_price_in_another_currency_is_not_converted_silently(org, settings):
    settings.NEWVOICE_CURRENCY = "EUR"
    cost = PriceBook(org.pk, TODAY).price(Usage(telephony_seconds=60))
    assert not cost.priced
    assert cost.problems == ["The price for telephony livekit/sip is in USD, calls are counted in EUR."]


def test_unused_components_need_no_price(org):
    cost = PriceBook(org.pk, TODAY).price(Usage(llm=("nobody", "nothing"), stt=("nobody", "x"), tts=("nobody", "y")))
    assert cost.priced and cost.total == Decimal(0)


# Quality


@pytest.mark.parametrize(
    ("lines", "label"),
    [
        (["Да, конечно, с удовольствием!"], "positive"),
        (["Нет, спасибо, мне это не интересно"], "negative"),
        (["Это совсем не плохо, спасибо"], "positive"),
        (["Мне не нравится, что вы звоните"], "negative"),
        (["Хватит мне звонить, надоели"], "negative"),
        (["Yes, that works great, thanks"], "positive"),
        (["No thanks, I'm not interested"], "negative"),
        (["Not bad at all"], "positive"),
        (["This is a scam, stop calling"], "negative"),
        (["Завтра в три"], "neutral"),
    ],
)
def test_sentiment_in_russian_and_english_with_negation(lines, label):
    assert sentiment(lines)[1] == label


def test_a_callee_who_said_nothing_has_no_sentiment():
    assert sentiment(["", "  "]) == (None, "")


def test_qa_flags_name_dead_air_repetition_and_a_request_for_a_human():
    flags = qa_flags(
        ["", "", "Соедините меня с оператором"],
        ["Вы меня слышите? Алло, вы здесь?", "Вы меня слышите? Алло, вы здесь?", "Хорошо."],
        [900.0, 4200.0],
    )
    assert [f["flag"] for f in flags] == ["dead_air", "bot_repeated", "asked_for_human"]
    assert flags[0]["detail"] == "the callee was silent 2 times; 1 replies took over 3 s (slowest 4.2 s)"
    assert qa_flags(["Да"], ["Здравствуйте, это салон «Лилия»."], [500.0]) == []


def test_percentile_interpolates_like_postgresql():
    assert percentile([100, 200, 300, 400], 0.5) == 250
    assert percentile([100, 200, 300, 400], 0.95) == pytest.approx(385)
    assert percentile([], 0.5) is None


# A call, measured


def test_an_ended_call_is_measured_from_its_log(campaign):
    events = conversation(
        ("assistant", "Здравствуйте! Это салон «Лилия». Записать вас?"),
        ("user", "Да, конечно"),
        ("assistant", "На какое время?"),
        ("user", "Завтра в три"),
        ("assistant", "Записала вас на завтра в 15:00."),
        steps=("greeting", "offer", "booked"),
    )
    events[5][3]["latency_ms"] = 1200.0
    events[7][3]["latency_ms"] = 600.0
    events[7][3]["interrupted"] = True
    usage = [llm_usage(input_tokens=3000, output_tokens=100), {"type": "tts_usage", "provider": "openai", "model": "gpt-4o-mini-tts",
             "characters_count": 120, "audio_duration": 30.0}]  # fmt: skip
    call = ended_call(campaign, events=events, talk_seconds=90, ring_seconds=7, usage=usage, last_step="booked")
    metrics = CallMetrics.objects.get(call=call)
    assert (metrics.outcome, metrics.ring_seconds, metrics.talk_seconds, metrics.total_seconds) == ("success", 7, 90, 97)
    assert (metrics.turns, metrics.user_words, metrics.bot_words, metrics.interruptions) == (2, 5, 15, 1)
    assert (metrics.first_greeting_ms, metrics.latency_mean_ms, metrics.latency_p50_ms, metrics.latency_max_ms) == (800, 900, 900, 1200)
    assert metrics.latency_p95_ms == pytest.approx(1170)
    assert (metrics.llm_input_tokens, metrics.llm_output_tokens, metrics.tts_characters, metrics.tts_seconds) == (3000, 100, 120, 30)
    # The skillbase runs the flow engine (free); voice is OpenAI; 90 s on a LiveKit SIP line.
    assert metrics.cost_llm == 0 and metrics.cost_stt == 0  # no speech-to-text was reported on this call
    assert metrics.cost_tts == Decimal("0.007500") and metrics.cost_telephony == Decimal("0.015000")
    assert metrics.cost_total == Decimal("0.022500") and metrics.is_priced and metrics.currency == "USD"
    assert metrics.steps_reached == ["greeting", "offer", "booked"]
    assert list(StepReached.objects.filter(metrics=metrics).order_by("position").values_list("step", flat=True)) == metrics.steps_reached
    assert metrics.sentiment_label == "positive" and metrics.qa_flags == []
    campaign.refresh_from_db()
    assert campaign.spent == Decimal("0.022500")


def test_an_unpriced_call_says_why_and_still_counts_what_is_priced(org, skillbase_factory, minimal_config):
    minimal_config["llm"] = {"provider": "openai", "model": "gpt-9-turbo", "api_key_env": "NV_TEST_KEY"}
    campaign = make_campaign(org, skillbase_factory(org, config=minimal_config))
    call = ended_call(campaign, usage=[llm_usage(model="gpt-9-turbo")], talk_seconds=60)
    metrics = call.metrics
    assert not metrics.is_priced and metrics.cost_total is None and metrics.cost_llm is None
    assert "No price for LLM input openai/gpt-9-turbo" in metrics.unpriced_reason
    campaign.refresh_from_db()
    assert campaign.spent == Decimal("0.010000")  # the telephony minute


def test_a_simulated_call_is_priced_as_a_real_one_would_be(campaign):
    events = conversation(("assistant", "Добрый день! Записать вас?"), ("user", "Да, запишите меня на завтра"))
    call = ended_call(campaign, events=events, simulated=True, dialer="simulator", talk_seconds=60)
    metrics = call.metrics
    assert metrics.is_simulated and metrics.stt_seconds == 2.0  # five words at 2.5 words a second
    assert metrics.cost_stt == Decimal("0.000100") and metrics.cost_telephony == Decimal("0.010000")


def test_unanswered_calls_cost_nothing_and_measure_the_ring(campaign):
    call = ended_call(campaign, outcome="no_answer", talk_seconds=None, ring_seconds=30)
    metrics = call.metrics
    assert (metrics.talk_seconds, metrics.turns, metrics.cost_total, metrics.is_priced) == (0, 0, 0, True)
    assert metrics.sentiment_label == "" and metrics.sentiment_score is None


def test_measuring_again_replaces_the_metrics_and_adds_only_the_difference_to_spend(campaign):
    call = ended_call(campaign, talk_seconds=60)
    campaign.refresh_from_db()
    assert campaign.spent == Decimal("0.010000")
    Price.objects.create(component="telephony", provider="livekit", model="sip", unit="minute", amount="0.05", effective_from=TODAY)
    record_call_metrics(call)
    assert CallMetrics.objects.filter(call=call).count() == 1
    campaign.refresh_from_db()
    assert campaign.spent == Decimal("0.050000")


def test_spend_reaching_the_budget_pauses_the_campaign(org, skillbase, settings):
    use_scripted_dialer(settings)
    campaign = started(make_campaign(org, skillbase, contacts=1, budget_cap=Decimal("0.02")))
    ended_call(campaign, talk_seconds=60)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    ended_call(campaign, talk_seconds=60)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED and "budget" in campaign.status_reason
    assert campaign.spent == Decimal("0.020000")


def test_a_call_ended_by_the_reaper_is_measured_from_what_it_logged(campaign):
    from campaigns.actions import finish_call

    task = campaign.tasks.create(organization=campaign.organization, phone="+79161112233")
    call = Call.objects.create(
        organization=campaign.organization, campaign=campaign, task=task, attempt=1, skillbase_version=campaign.skillbase.current_version,
        phone=task.phone, dialer="livekit", status="in_progress", answered_at=timezone.now() - dt.timedelta(seconds=40),
    )  # fmt: skip
    finish_call(call.pk, outcome="lost", error="The worker holding this call stopped answering.")
    metrics = CallMetrics.objects.get(call=call)
    assert metrics.outcome == "lost" and 39 <= metrics.talk_seconds <= 60


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"component": "llm_input", "unit": "minute"}, "unit"),
        ({"component": "telephony", "unit": "1m_characters"}, "unit"),
        ({"currency": "usd"}, "currency"),
        ({"amount": "-1"}, None),  # the check constraint
        ({"provider": "livekit", "model": "sip", "effective_from": dt.date(2026, 1, 1)}, "effective_from"),  # the seeded list price
    ],
)
def test_a_price_that_could_never_apply_is_refused_naming_the_field(fields, field):
    from django.core.exceptions import ValidationError

    values = {"component": "telephony", "provider": "acme", "model": "", "unit": "minute", "amount": "0.02", "effective_from": TODAY}
    price = Price(**{**values, **fields})
    with pytest.raises(ValidationError) as refused:
        price.full_clean()
    if field is not None:
        assert field in refused.value.message_dict
    assert not Price.objects.filter(provider="acme").exists()
