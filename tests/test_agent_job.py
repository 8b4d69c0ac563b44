"""A LiveKit job for one call, started with livekit-agents' own fake job context (text mode)."""

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from livekit.agents.testing import fake_job_context

from campaigns.models import Call, CallLog, CallTask, Campaign, DoNotCallEntry
from skillbases.models import Skillbase
from tenancy.models import Organization
from voiceagent.worker import BadJob, call_id_from, run_call_job

DEMO = Path(__file__).resolve().parent.parent / "newvoice" / "demo"
pytestmark = pytest.mark.django_db(transaction=True)


def make_call(phone="+79123450001", *, llm=None) -> Call:
    org = Organization.objects.create(name="Lilia", slug="lilia")
    config = json.loads((DEMO / "salon_ru.json").read_text(encoding="utf-8"))
    if llm:
        config["llm"] = llm
    skillbase = Skillbase(organization=org, name="Salon", **{k: config[k] for k in ("context", "flow", "voice", "llm")})
    skillbase.save()
    campaign = Campaign.objects.create(organization=org, name="Spring", skillbase=skillbase, status=Campaign.Status.RUNNING)
    task = CallTask.objects.create(
        organization=org, campaign=campaign, phone=phone, name="Анна", variables={"service": "маникюр"},
        timezones=["Europe/Moscow"], status=CallTask.Status.IN_PROGRESS, attempts=1,
    )  # fmt: skip
    return Call.objects.create(
        organization=org, campaign=campaign, task=task, attempt=1, skillbase_version=skillbase.current_version,
        phone=phone, dialer="livekit", status=Call.Status.IN_PROGRESS,
    )  # fmt: skip


async def run(call: Call, script: list[str]) -> Call:
    with fake_job_context(job_metadata=json.dumps({"call_id": call.pk})) as ctx:
        await run_call_job(ctx, script=script)
    return await Call.objects.select_related("task").aget(pk=call.pk)


async def events(call: Call) -> list[tuple[str, str, str]]:
    return [(e.kind, e.role, e.text) async for e in CallLog.objects.filter(call=call).order_by("seq")]


async def test_a_booking_call_ends_with_its_outcome_fields_and_ordered_events():
    call = await _acreate(make_call)
    done = await run(call, ["Да, слушаю", "давайте", "завтра в 15:30", "нет, спасибо"])
    assert (done.status, done.outcome, done.last_step) == ("ended", "success", "farewell")
    tomorrow = (dt.datetime.now(ZoneInfo("Europe/Moscow")) + dt.timedelta(days=1)).date()
    assert done.collected == {"slot": f"{tomorrow.isoformat()}T15:30:00+03:00"}
    assert done.task.outcome == "success" and done.task.result["slot"] == done.collected["slot"]
    log = await events(call)
    kinds = [kind for kind, _role, _text in log]
    assert kinds[0] == "call_started" and kinds[-1] == "call_ended"
    said = [(role, text) for kind, role, text in log if kind == "transcript"]
    assert said[0][0] == "assistant" and said[0][1].startswith("Здравствуйте, Анна!")
    assert ("user", "завтра в 15:30") in said
    assert said[-1] == ("assistant", "Спасибо, Анна! Ждём вас в «Лилии». Всего доброго!")
    steps = [e.data["step"] async for e in CallLog.objects.filter(call=call, kind="step").order_by("seq")]
    assert steps == ["greeting", "offer", "pick_time", "booked", "farewell"]
    seqs = [s async for s in CallLog.objects.filter(call=call).order_by("seq").values_list("seq", flat=True)]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_opt_out_puts_the_number_on_the_do_not_call_list():
    call = await _acreate(make_call)
    done = await run(call, ["не звоните мне больше"])
    assert done.outcome == "opted_out"
    entry = await DoNotCallEntry.objects.aget(phone=call.phone)
    assert entry.source == "opt_out" and entry.organization_id == call.organization_id


async def test_a_callee_who_stops_talking_midway_ends_as_failed_with_a_reason():
    call = await _acreate(make_call)
    done = await run(call, ["да"])
    assert done.outcome == "failed" and "stopped before the script ended" in done.error


async def test_missing_provider_key_fails_the_job_cleanly(monkeypatch):
    monkeypatch.delenv("NV_TEST_KEY", raising=False)
    call = await _acreate(make_call, llm={"provider": "openai", "model": "gpt-4o-mini", "api_key_env": "NV_TEST_KEY"})
    done = await run(call, ["да"])
    assert done.outcome == "failed" and "NV_TEST_KEY" in done.error
    assert [k async for k in CallLog.objects.filter(call=call, kind="error").values_list("text", flat=True)] == [done.error]


def test_metadata_without_a_call_id_is_a_clear_error():
    with pytest.raises(BadJob, match="no call id"):
        call_id_from('{"phone": "+7"}')
    assert call_id_from('{"call_id": "12"}') == 12


async def _acreate(factory, **kwargs):
    from asgiref.sync import sync_to_async

    return await sync_to_async(factory)(**kwargs)
