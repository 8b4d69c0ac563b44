"""The analytics pages of the admin through the test client: a call's conversation and metrics, the
dashboard's charts, the price table and unpriced calls. Calls are ended with the real code (their
log, then ``finish_call``), so every figure on a page comes from a real CallMetrics row."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from analytics import reports
from analytics.dashboard import latency_histogram
from analytics.models import CallMetrics, Price
from analytics.templatetags.analytics_format import money
from campaigns.models import Call, CallLog
from tenancy.models import Role
from tenancy.scoping import organization_ids
from tests.support.calls import conversation, ended_call
from tests.support.engine import make_campaign

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/analytics/dashboard/"
USAGE = [
    {"type": "stt_usage", "provider": "openai", "model": "gpt-4o-mini-transcribe", "audio_duration": 30.0},
    {"type": "tts_usage", "provider": "openai", "model": "gpt-4o-mini-tts", "characters_count": 400, "audio_duration": 40.0},
]


def conversation_url(call) -> str:
    return reverse("admin:campaigns_call_conversation", args=[call.pk])


def html_of(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def text_of(html: str) -> str:
    """The page's words, without tags and runs of whitespace."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def campaign(org, skillbase):
    return make_campaign(org, skillbase, name="Autumn reminders")


@pytest.fixture
def talk(campaign):
    """A conversation with a step change, a tool call, a callee barging in and a false interruption."""
    events = [
        ("step", "", "", {"step": "greeting"}),
        ("transcript", "assistant", "Hello Ann, this is Test Clinic.", {"interrupted": False, "latency_ms": 1200.0, "greeting": True}),
        ("transcript", "user", "Hi, yes?", {"interrupted": False}),
        ("transcript", "assistant", "Can you come tomorrow", {"interrupted": True, "latency_ms": 640.0}),
        (
            "interruption",
            "assistant",
            "Can you come tomorrow",
            {"heard": "Can you come tomorrow", "full": "Can you come tomorrow at five in the afternoon?", "step": "greeting"},
        ),
        ("transcript", "user", "Yes, sure, that works great", {"interrupted": False}),
        ("tool_call", "", "", {"tool": "goto_step", "step": "confirmed", "result": "Say: Great, see you then."}),
        ("step", "", "", {"step": "confirmed"}),
        ("interruption", "assistant", "", {"false": True, "resumed": True}),
        ("transcript", "assistant", "Great, see you then.", {"interrupted": False, "latency_ms": 900.0}),
    ]
    call = ended_call(campaign, events=events, usage=USAGE, talk_seconds=75.0, ring_seconds=6.0, last_step="confirmed")
    # One batch shares one offset; a live call's events are seconds apart.
    CallLog.objects.filter(call=call).update(offset_ms=F("seq") * 2350)
    return call


@pytest.fixture
def unpriced_call(org, skillbase_factory, minimal_config):
    """A call whose speech-to-text model has no price."""
    minimal_config["voice"] = {"stt_provider": "deepgram", "stt_model": "nova-1-legacy"}
    campaign = make_campaign(org, skillbase_factory(org, name="Legacy voice", config=minimal_config), name="Legacy")
    return ended_call(campaign, events=conversation(("assistant", "Hello"), ("user", "Who is this?")), usage=USAGE)


# A call's conversation and metrics


def test_the_conversation_shows_who_said_what_when_and_how_fast_the_bot_answered(client, viewer, talk):
    client.force_login(viewer)
    html = html_of(client.get(conversation_url(talk)))
    bubbles = re.findall(r'<div class="line (bot|callee)[^"]*" data-seq="\d+">.*?<div class="text">(.*?)</div>', html, re.S)
    assert [(who, re.sub(r"<[^>]+>", "", text).strip()) for who, text in bubbles] == [
        ("bot", "Hello Ann, this is Test Clinic."),
        ("callee", "Hi, yes?"),
        ("bot", "Can you come tomorrow at five in the afternoon?"),
        ("callee", "Yes, sure, that works great"),
        ("bot", "Great, see you then."),
    ]
    text = text_of(html)
    assert "greeting 1,200 ms after the answer" in text
    assert "answered in 640 ms" in text and "answered in 900 ms" in text
    # The callee cut the bot off: what they heard, what they did not, and a marker.
    assert '<span class="unheard"' in html and "at five in the afternoon?</span>" in html
    assert "Interrupted by the callee" in text
    assert "False interruption: the bot went on speaking" in text
    # Steps where they changed, the tool call in one line.
    assert re.search(r"→ step <strong>greeting</strong>.*→ step <strong>confirmed</strong>", html, re.S)
    assert "⚙ goto_step(step=confirmed)" in html and "→ Say: Great, see you then." in html
    # Offsets since the call was queued: the greeting is event 3, 7.05 s in; the last line, event 11, 25.85 s.
    assert re.search(r'<span class="offset"[^>]*>0:07.1</span>.*Hello Ann', html, re.S)
    assert re.search(r'<span class="offset"[^>]*>0:25.9</span>.*Great, see you then', html, re.S)


def test_the_call_page_shows_the_calls_own_metrics_and_cost(client, viewer, talk):
    metrics = CallMetrics.objects.get(call=talk)
    assert metrics.is_priced and metrics.cost_total > 0
    client.force_login(viewer)
    text = text_of(html_of(client.get(conversation_url(talk))))
    assert f"Turns {metrics.turns} " in text and metrics.turns == 2
    assert f"Callee words {metrics.user_words} " in text and f"Bot words {metrics.bot_words} " in text
    assert "First greeting 1,200 ms" in text
    assert f"Mean {metrics.latency_mean_ms:,.0f} ms" in text and f"p50 {metrics.latency_p50_ms:,.0f} ms" in text
    assert f"p95 {metrics.latency_p95_ms:,.0f} ms" in text and "Max 900 ms" in text
    assert "Interruptions 1 " in text and "False interruptions 1 " in text
    assert "Talk time 75.0 s" in text and "Ringing 6.0 s" in text
    assert f"Sentiment {metrics.sentiment_label} " in text and metrics.sentiment_label == "positive"
    assert "Steps greeting → confirmed" in text
    for label, part in [("Speech-to-text", "cost_stt"), ("Language model", "cost_llm"), ("Text-to-speech", "cost_tts")]:
        assert f"{label} {money(getattr(metrics, part))} USD" in text
    assert f"Telephony {money(metrics.cost_telephony)} USD" in text
    assert f"Total {money(metrics.cost_total)} USD" in text
    assert f"Price version {metrics.price_version} " in text and metrics.price_version == "2026-01-01"
    assert "unpriced" not in text


def test_an_unpriced_call_says_so_and_why_never_zero(client, viewer, unpriced_call):
    metrics = CallMetrics.objects.get(call=unpriced_call)
    assert not metrics.is_priced and metrics.cost_total is None and metrics.cost_stt is None
    client.force_login(viewer)
    html = html_of(client.get(conversation_url(unpriced_call)))
    text = text_of(html)
    assert "Speech-to-text unpriced" in text and "Total unpriced" in text
    assert f"Why unpriced: {metrics.unpriced_reason}" in text
    assert "No price for speech-to-text deepgram/nova-1-legacy" in metrics.unpriced_reason
    # The components that have a price still show it.
    assert f"Text-to-speech {money(metrics.cost_tts)} USD" in text
    assert "Total 0" not in text


def test_qa_flags_are_named_on_the_call_page(client, viewer, campaign):
    call = ended_call(campaign, events=conversation(("assistant", "Hello"), ("user", "Put me through to a real person please")))
    client.force_login(viewer)
    html = html_of(client.get(conversation_url(call)))
    assert '<div class="qa-flag"><strong>Asked for a human</strong>: Put me through to a real person please</div>' in html


def test_a_call_still_in_progress_has_its_lines_and_no_metrics_yet(client, viewer, campaign):
    call = ended_call(campaign, events=conversation(("assistant", "Hello")))
    Call.objects.filter(pk=call.pk).update(status=Call.Status.IN_PROGRESS, outcome="", ended_at=None)
    CallMetrics.objects.filter(call=call).delete()
    client.force_login(viewer)
    text = text_of(html_of(client.get(conversation_url(call))))
    assert "Hello" in text
    assert "No metrics yet: the call is in progress." in text


def test_another_organizations_call_is_not_found(client, outsider, viewer, talk):
    client.force_login(outsider)
    assert client.get(conversation_url(talk)).status_code == 404
    client.force_login(viewer)
    assert client.get(reverse("admin:campaigns_call_conversation", args=[987654])).status_code == 404


def test_the_call_pages_link_to_the_conversation(client, viewer, talk):
    client.force_login(viewer)
    for page in (
        reverse("admin:campaigns_call_change", args=[talk.pk]),
        reverse("admin:campaigns_call_changelist"),
        reverse("admin:analytics_callmetrics_changelist"),
        reverse("admin:analytics_callmetrics_change", args=[talk.metrics.pk]),
    ):
        assert f'href="{conversation_url(talk)}"' in html_of(client.get(page)), page


def test_the_conversation_page_reads_a_bounded_number_of_queries(client, viewer, talk, campaign):
    client.force_login(viewer)
    client.get(conversation_url(talk))
    with CaptureQueriesContext(connection) as short:
        client.get(conversation_url(talk))
    long = ended_call(campaign, events=conversation(*[("user" if i % 2 else "assistant", f"Line {i}") for i in range(60)]))
    with CaptureQueriesContext(connection) as longer:
        html = html_of(client.get(conversation_url(long)))
    assert "Line 59" in html
    assert len(longer) == len(short)


# The call metrics list


def test_the_metrics_list_marks_unpriced_calls_and_filters_them(client, viewer, talk, unpriced_call):
    client.force_login(viewer)
    changelist = reverse("admin:analytics_callmetrics_changelist")
    html = html_of(client.get(changelist))
    reason = CallMetrics.objects.get(call=unpriced_call).unpriced_reason
    assert f'<span class="unpriced" title="{reason}">unpriced</span>' in html
    assert f"{money(talk.metrics.cost_total)} USD" in html
    page = client.get(changelist, {"is_priced__exact": "0"})
    assert [row.call for row in page.context["cl"].result_list] == [unpriced_call]


# The dashboard


def test_the_dashboard_is_linked_from_the_admin_index(client, viewer):
    client.force_login(viewer)
    assert f'href="{DASHBOARD}"' in html_of(client.get(reverse("admin:index")))
    assert f'href="{DASHBOARD}"' in html_of(client.get(reverse("admin:app_list", args=["analytics"])))


def test_the_dashboard_needs_a_staff_login(client, org, member_factory):
    assert client.get(DASHBOARD).status_code == 302
    client.force_login(member_factory(org, Role.VIEWER, username="not-staff", is_staff=False))
    assert client.get(DASHBOARD).status_code == 302


SUCCESS = (("assistant", "Hi"), ("user", "Yes"), ("assistant", "See you"))


@pytest.fixture
def month(campaign, skillbase_factory, org):
    """Calls over three days: two campaigns, several outcomes, one unpriced."""
    today = timezone.localdate()
    moment = timezone.make_aware(dt.datetime.combine(today, dt.time(12)))
    second = make_campaign(org, skillbase_factory(org, name="Second bot"), name="Winter offers")
    calls = [
        ended_call(campaign, outcome="success", events=conversation(*SUCCESS, latency_ms=500), usage=USAGE),
        ended_call(campaign, outcome="success", events=conversation(*SUCCESS, latency_ms=700), usage=USAGE),
        ended_call(
            campaign, outcome="refusal", events=conversation(("assistant", "Hi"), ("user", "No"), ("assistant", "Bye"), latency_ms=900)
        ),
        ended_call(campaign, outcome="no_answer", talk_seconds=None, ended_at=moment - dt.timedelta(days=1)),
        ended_call(
            second,
            outcome="success",
            events=conversation(
                ("assistant", "Hi"), ("user", "Yes"), ("assistant", "Ok"), latency_ms=2500, steps=("greeting", "confirmed")
            ),
            usage=USAGE,
            ended_at=moment - dt.timedelta(days=2),
        ),
    ]
    return {"calls": calls, "second": second}


def test_the_dashboard_shows_the_organizations_figures_as_charts(client, viewer, org, month, outsider, other_org, skillbase_factory):
    theirs = make_campaign(other_org, skillbase_factory(other_org, name="Theirs"), name="Their campaign")
    ended_call(theirs, outcome="success", events=conversation(("assistant", "Hi"), ("user", "Yes")), usage=USAGE)
    client.force_login(viewer)
    page = client.get(DASHBOARD)
    html = html_of(page)
    expected = reports.summary(organization_ids(viewer), page.context["filters"], group_by="day")
    assert expected["totals"]["calls"] == 5
    assert page.context["totals"] == expected["totals"]
    assert re.search(r'id="total-calls">5<', html)
    assert f'id="total-cost">{money(expected["totals"]["total_cost"])} USD<' in html
    # Calls per day by outcome: the stacked bars add up to the calls, each outcome to its count.
    calls_svg = re.search(r'<svg class="chart calls-per-day".*?</svg>', html, re.S).group(0)
    values = [float(v) for v in re.findall(r'<rect class="bar"[^>]*data-value="([\d.]+)"', calls_svg)]
    assert sum(values) == 5
    day = timezone.localdate()
    assert f"<title>{day:%m-%d} · Success: 2</title>" in calls_svg and f"<title>{day:%m-%d} · Refusal: 1</title>" in calls_svg
    day -= dt.timedelta(days=1)
    assert f"<title>{day:%m-%d} · No answer: 1</title>" in calls_svg
    day -= dt.timedelta(days=1)
    assert f"<title>{day:%m-%d} · Success: 1</title>" in calls_svg
    # Cost per day: the bars add up to the priced calls' cost.
    cost_svg = re.search(r'<svg class="chart cost-per-day".*?</svg>', html, re.S).group(0)
    cost = sum(Decimal(v) for v in re.findall(r'data-value="([\d.e-]+)"', cost_svg))
    assert abs(cost - expected["totals"]["total_cost"]) < Decimal("0.00001")
    # Latency histogram and step funnel are drawn.
    assert '<svg class="chart latency-histogram"' in html
    funnel_svg = re.search(r'<svg class="chart step-funnel".*?</svg>', html, re.S).group(0)
    assert re.findall(r"<title>(\w+): (\d+) \(\d+%\)</title>", funnel_svg) == [("greeting", "1"), ("confirmed", "1")]
    # Only this organization's campaigns, in the table and the selector.
    assert [row["label"] for row in page.context["by_campaign"]] == ["Autumn reminders", "Winter offers"]
    assert "Their campaign" not in html


def test_the_campaign_selector_narrows_every_figure(client, viewer, month):
    client.force_login(viewer)
    page = client.get(DASHBOARD, {"campaign": month["second"].pk})
    assert page.context["totals"]["calls"] == 1
    assert page.context["by_campaign"] == []
    assert page.context["form"].cleaned_data["campaign"] == month["second"]


def test_another_organizations_campaign_cannot_be_chosen(client, viewer, month, other_org, skillbase_factory):
    theirs = make_campaign(other_org, skillbase_factory(other_org, name="Theirs"), name="Their campaign")
    ended_call(theirs, outcome="success", events=conversation(("assistant", "Hi"), ("user", "Yes")))
    client.force_login(viewer)
    page = client.get(DASHBOARD, {"campaign": theirs.pk})
    html = html_of(page)
    assert "Select a valid choice" in html
    assert page.context["filters"].campaign is None
    assert page.context["totals"]["calls"] == 5  # their call is not counted, ours are


def test_a_superuser_sees_every_organization(client, superuser, month, other_org, skillbase_factory):
    theirs = make_campaign(other_org, skillbase_factory(other_org, name="Theirs"), name="Their campaign")
    ended_call(theirs, outcome="success", events=conversation(("assistant", "Hi"), ("user", "Yes")))
    client.force_login(superuser)
    page = client.get(DASHBOARD)
    assert page.context["totals"]["calls"] == 6
    assert "Their campaign" in html_of(page)


def test_the_date_range_and_real_or_simulated_filter(client, viewer, month, campaign):
    ended_call(campaign, outcome="success", simulated=True, dialer="simulator")
    client.force_login(viewer)
    today = timezone.localdate()
    assert client.get(DASHBOARD, {"date_from": today.isoformat()}).context["totals"]["calls"] == 4
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    page = client.get(DASHBOARD, {"date_from": yesterday, "date_to": yesterday})
    assert page.context["totals"]["calls"] == 1
    assert client.get(DASHBOARD, {"calls": "simulated"}).context["totals"]["calls"] == 1
    assert client.get(DASHBOARD, {"calls": "real"}).context["totals"]["calls"] == 5


def test_a_backwards_or_too_long_range_is_refused_clearly(client, viewer, month):
    client.force_login(viewer)
    today = timezone.localdate()
    page = client.get(DASHBOARD, {"date_from": today.isoformat(), "date_to": (today - dt.timedelta(days=3)).isoformat()})
    assert "The first day comes after the last." in html_of(page)
    assert page.context["totals"]["calls"] == 5  # the last 30 days instead
    page = client.get(DASHBOARD, {"date_from": "2020-01-01", "date_to": today.isoformat()})
    assert "Choose at most 366 days." in html_of(page)


def test_a_dashboard_with_no_calls_says_so(client, viewer):
    client.force_login(viewer)
    html = html_of(client.get(DASHBOARD))
    assert "No calls ended in this period." in html
    assert 'class="chart' not in html


def test_the_dashboard_marks_unpriced_calls(client, viewer, unpriced_call):
    client.force_login(viewer)
    text = text_of(html_of(client.get(DASHBOARD)))
    assert "unpriced 1 call has no price for something it used: it is not in the cost figures." in text


def test_the_latency_histogram_counts_each_call_once_in_round_buckets(org, month):
    today = timezone.localdate()
    filters = reports.Filters(date_from=today - dt.timedelta(days=29), date_to=today)
    buckets = latency_histogram([org.pk], filters)
    # Medians 500, 700, 900 and 2,500 ms: 200 ms buckets up to the slowest (98th percentile).
    assert {(b.low, b.high): b.calls for b in buckets if b.calls} == {(400, 600): 1, (600, 800): 1, (800, 1000): 1, (2400, 2600): 1}
    assert buckets[-1].high is None and buckets[-1].label == "≥2600"
    assert sum(b.calls for b in buckets) == CallMetrics.objects.filter(latency_p50_ms__isnull=False).count() == 4


def test_the_dashboard_query_count_does_not_grow_with_calls_or_campaigns(client, viewer, campaign, org, skillbase):
    client.force_login(viewer)
    ended_call(campaign, events=conversation(("assistant", "Hi"), ("user", "Yes")), usage=USAGE)
    client.get(DASHBOARD)
    with CaptureQueriesContext(connection) as few:
        client.get(DASHBOARD)
    for i in range(4):
        more = make_campaign(org, skillbase, name=f"More {i}")
        ended_call(more, events=conversation(("assistant", "Hi"), ("user", "Yes"), steps=("greeting",)), usage=USAGE)
    with CaptureQueriesContext(connection) as many:
        client.get(DASHBOARD)
    assert len(many) == len(few)


# Prices


def price_data(organization=None, **extra) -> dict:
    data = {
        "organization": organization.pk if organization else "",
        "component": "stt",
        "provider": "deepgram",
        "model": "nova-1-legacy",
        "unit": "minute",
        "amount": "0.0040",
        "currency": "USD",
        "effective_from": "2026-01-01",
        "note": "",
    }
    return {**data, **extra}


@pytest.fixture
def list_price(db):
    return Price.objects.get(component="telephony", provider="livekit", model="sip", organization=None)


def test_superuser_edits_list_prices(client, superuser, list_price):
    client.force_login(superuser)
    url = reverse("admin:analytics_price_change", args=[list_price.pk])
    page = client.get(url)
    assert page.context["has_change_permission"]
    response = client.post(url, price_data(component="telephony", provider="livekit", model="sip", amount="0.02"))
    assert response.status_code == 302
    list_price.refresh_from_db()
    assert list_price.amount == Decimal("0.02")
    response = client.post(reverse("admin:analytics_price_add"), price_data())
    assert response.status_code == 302
    assert Price.objects.get(provider="deepgram", model="nova-1-legacy").organization is None


def test_organization_admin_reads_list_prices_but_cannot_change_them(client, org_admin, list_price):
    client.force_login(org_admin)
    url = reverse("admin:analytics_price_change", args=[list_price.pk])
    page = client.get(url)
    assert page.status_code == 200 and not page.context["has_change_permission"]
    assert client.post(url, price_data(component="telephony", provider="livekit", model="sip", amount="0")).status_code == 403
    assert client.post(reverse("admin:analytics_price_delete", args=[list_price.pk]), {"post": "yes"}).status_code == 403
    list_price.refresh_from_db()
    assert list_price.amount == Decimal("0.01")


def test_organization_admin_sets_their_own_price_and_it_prices_their_next_call(client, org, org_admin, campaign):
    client.force_login(org_admin)
    add = reverse("admin:analytics_price_add")
    response = client.post(add, price_data())
    assert response.status_code == 200
    assert "organization" in response.context["adminform"].form.errors  # a list price is not theirs to set
    response = client.post(add, price_data(org, component="telephony", provider="livekit", model="sip", amount="0.03"))
    assert response.status_code == 302
    assert Price.objects.get(organization=org).amount == Decimal("0.03")
    call = ended_call(campaign, talk_seconds=120.0, events=conversation(("assistant", "Hi")))
    assert CallMetrics.objects.get(call=call).cost_telephony == Decimal("0.060000")  # 2 min at their 0.03


def test_organization_admin_cannot_price_for_another_organization(client, org_admin, other_org):
    client.force_login(org_admin)
    response = client.post(reverse("admin:analytics_price_add"), price_data(other_org))
    assert response.status_code == 200
    assert "organization" in response.context["adminform"].form.errors
    assert not Price.objects.filter(organization=other_org).exists()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
def test_viewers_and_operators_only_read_prices(client, org, member_factory, role, list_price):
    user = member_factory(org, role)
    own = Price.objects.create(organization=org, component="stt", provider="x", unit="minute", amount="1", effective_from="2026-01-01")
    client.force_login(user)
    assert client.get(reverse("admin:analytics_price_changelist")).status_code == 200
    assert client.get(reverse("admin:analytics_price_add")).status_code == 403
    for price in (own, list_price):
        assert not client.get(reverse("admin:analytics_price_change", args=[price.pk])).context["has_change_permission"]


def test_prices_are_listed_by_organization_with_filters_and_help(client, org, org_admin, other_org):
    ours = Price.objects.create(organization=org, component="stt", provider="ours", unit="minute", amount="1", effective_from="2026-01-01")
    theirs = Price.objects.create(
        organization=other_org, component="stt", provider="theirs", unit="minute", amount="1", effective_from="2026-01-01"
    )
    client.force_login(org_admin)
    changelist = reverse("admin:analytics_price_changelist")
    page = client.get(changelist)
    html = html_of(page)
    rows = list(page.context["cl"].queryset)
    assert ours in rows and theirs not in rows
    assert Price.objects.filter(organization=None).count() == len(rows) - 1
    assert "leaves its calls <strong>unpriced</strong>" in html
    assert client.get(reverse("admin:analytics_price_change", args=[theirs.pk])).status_code == 404
    assert [p.provider for p in client.get(changelist, {"whose": "own"}).context["cl"].queryset] == ["ours"]
    assert {p.component for p in client.get(changelist, {"component__exact": "telephony"}).context["cl"].queryset} == {"telephony"}
    assert {p.provider for p in client.get(changelist, {"provider": "deepgram"}).context["cl"].queryset} == {"deepgram"}
    form = html_of(client.get(reverse("admin:analytics_price_add")))
    assert "a price changed or added later does not reprice calls already measured" in form
    assert "leaves that call unpriced" in form


def test_list_prices_can_be_told_from_an_organizations_own(client, org, viewer):
    Price.objects.create(organization=org, component="stt", provider="ours", unit="minute", amount="1", effective_from="2026-01-01")
    client.force_login(viewer)
    page = client.get(reverse("admin:analytics_price_changelist"), {"provider": "livekit"})
    assert "List price" in html_of(page)
    page = client.get(reverse("admin:analytics_price_changelist"), {"whose": "own"})
    assert org.name in html_of(page)


def test_the_dashboards_date_inputs_work_under_the_russian_locale(client, viewer):
    # A date input shows and sends ISO dates whatever the language; «08.12.2026» would leave it empty.
    client.force_login(viewer)
    page = client.get("/admin/analytics/dashboard/?date_from=2026-11-01&date_to=2026-11-30", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert 'type="date" name="date_from" value="2026-11-01"' in page and 'value="2026-11-30"' in page


def test_the_api_reference_fetches_nothing_from_another_site(client, viewer):
    client.force_login(viewer)
    page = client.get("/api/redoc/").content.decode()
    assert "redoc.standalone.js" in page and "googleapis" not in page and "gstatic" not in page
    assert not re.findall(r'(?:src|href)="https?://', page)


def test_money_is_written_to_four_decimals():
    from decimal import Decimal

    assert [money(Decimal("0.0123456")), money(Decimal("1.5")), money(0), money(None)] == ["0.0123", "1.5000", "0.0000", ""]


def test_the_call_list_shows_the_conversation_first_and_one_labelled_duration(client, viewer, org, skillbase):
    from campaigns.models import Call, Campaign
    from tests.support.calls import conversation, ended_call

    campaign = Campaign.objects.create(organization=org, name="Lists", skillbase=skillbase)
    call = ended_call(campaign, events=conversation(("assistant", "Hi"), steps=("greeting",)), last_step="greeting")
    answered = call.answered_at
    Call.objects.filter(pk=call.pk).update(ended_at=answered + dt.timedelta(seconds=75))
    client.force_login(viewer)
    page = client.get("/admin/campaigns/call/").content.decode()
    headers = re.findall(r'<th scope="col" class="[^"]*column-([a-z_]+)', page)
    assert headers[:3] == ["phone", "conversation_page", "contact"] and "talk_time" in headers
    assert "answered_at" not in headers and "ended_at" not in headers
    assert '<td class="field-talk_time">1:15</td>' in page
    assert re.search(r'<td class="field-started">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</td>', page)
