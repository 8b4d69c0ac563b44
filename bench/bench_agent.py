"""The voice agent in text mode: decision latency, first greeting, conversations per second.

    .venv/bin/python bench/bench_agent.py [--conversations 200] [--database-url URL]

- the flow engine's decision per turn (the pure state machine), p50/p99, over the demo salon's
  conversations;
- an agent turn through livekit-agents' AgentSession with the flow LLM and the tools, p50/p99,
  and its ratio to the bare decision (what the session machinery costs);
- time from the session starting to the greeting text;
- 10-turn conversations per second on one core (one process, one event loop), without the
  database and as a real job (call events and the call's ending written), and their ratio.
Runs on SQLite by default (the embedded mode); pass --database-url for PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

from common import ROOT, setup_django

TEN_TURNS = ["что?", "да", "а сколько стоит?", "хм", "да", "не знаю", "завтра в 12", "хм", "ну", "да"]
CONTACT = {"name": "Анна", "service": "маникюр"}


def setup(url: str | None) -> None:
    setup_django(url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def salon_config():
    from skillbases.schemas import validate_config

    raw = json.loads((ROOT / "newvoice" / "demo" / "salon_ru.json").read_text(encoding="utf-8"))
    return validate_config({k: raw[k] for k in ("context", "flow", "voice", "llm")})


def bench_decisions(config, rounds: int) -> list[float]:
    from voiceagent.flow.conversation import Conversation

    scripts = [TEN_TURNS, ["Перезвоните мне завтра после пяти"], ["не звоните мне больше"], ["да", "давайте", "в субботу в 11", "нет"]]
    timings = []
    for _ in range(rounds):
        for script in scripts:
            conversation = Conversation(config, CONTACT, timezone="Europe/Moscow")
            for line in script:
                if conversation.state.ended:
                    break
                started = time.perf_counter()
                decision = conversation.engine.decide(conversation.state, line)
                timings.append((time.perf_counter() - started) * 1000)
                for call in decision.calls:  # apply the tools so the next decision sees their effect
                    if call.name in ("goto_step", "record_field", "schedule_callback", "opt_out"):
                        getattr(conversation, call.name)(**call.arguments)
                if decision.end or (conversation.engine.steps[conversation.state.step].end):
                    break
    return timings


async def bench_sessions(config, count: int) -> tuple[list[float], list[float], float]:
    from voiceagent.text import TextConversation

    greetings, turns = [], []
    started_all = time.perf_counter()
    for _ in range(count):
        chat = TextConversation(config, CONTACT, timezone="Europe/Moscow")
        started = time.perf_counter()
        await chat.start()
        greetings.append((time.perf_counter() - started) * 1000)
        for line in TEN_TURNS:
            if chat.ended:
                break
            started = time.perf_counter()
            await chat.send(line)
            turns.append((time.perf_counter() - started) * 1000)
        assert chat.state.outcome == "success", chat.state
        await chat.aclose()
    return greetings, turns, count / (time.perf_counter() - started_all)


async def bench_jobs(config_json: dict, count: int) -> float:
    from asgiref.sync import sync_to_async
    from livekit.agents.testing import fake_job_context

    from campaigns.models import Call, CallTask, Campaign
    from skillbases.models import Skillbase
    from tenancy.models import Organization
    from voiceagent.worker import run_call_job

    def prepare() -> list[int]:
        Organization.objects.filter(slug="bench-agent").delete()
        org = Organization.objects.create(name="Bench agent", slug="bench-agent")
        skillbase = Skillbase(organization=org, name="Salon", **config_json)
        skillbase.save()
        campaign = Campaign.objects.create(organization=org, name="Bench", skillbase=skillbase, status=Campaign.Status.RUNNING)
        ids = []
        for i in range(count):
            task = CallTask.objects.create(
                organization=org, campaign=campaign, phone=f"+7912{i:07d}", name="Анна", variables={"service": "маникюр"},
                timezones=["Europe/Moscow"], status=CallTask.Status.IN_PROGRESS, attempts=1,
            )  # fmt: skip
            call = Call.objects.create(
                organization=org, campaign=campaign, task=task, attempt=1, skillbase_version=skillbase.current_version,
                phone=task.phone, dialer="simulator", status=Call.Status.IN_PROGRESS,
            )  # fmt: skip
            ids.append(call.pk)
        return ids

    ids = await sync_to_async(prepare)()
    started = time.perf_counter()
    for call_id in ids:
        with fake_job_context(job_metadata=json.dumps({"call_id": call_id})) as ctx:
            await run_call_job(ctx, script=TEN_TURNS)
    rate = count / (time.perf_counter() - started)
    outcomes = await sync_to_async(lambda: set(Call.objects.filter(pk__in=ids).values_list("outcome", flat=True)))()
    assert outcomes == {"success"}, outcomes
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--database-url", default=f"sqlite:///{ROOT / 'var' / 'bench-agent.sqlite3'}")
    args = parser.parse_args()
    setup(args.database_url)
    import logging

    logging.disable(logging.WARNING)  # livekit logs a warning per fake job; it is not what is measured
    from django.db import connection

    from voiceagent.flow.when import warm_up

    warm_up()
    config = salon_config()
    raw = json.loads((ROOT / "newvoice" / "demo" / "salon_ru.json").read_text(encoding="utf-8"))
    decisions = bench_decisions(config, rounds=200)
    cold, _turns, _rate = asyncio.run(bench_sessions(config, 1))  # imports and first-use costs, paid once per process
    greetings, turns, in_memory_rate = asyncio.run(bench_sessions(config, args.conversations))
    job_rate = asyncio.run(bench_jobs({k: raw[k] for k in ("context", "flow", "voice", "llm")}, args.conversations))
    print(f"database: {connection.vendor}; {args.conversations} conversations of {len(TEN_TURNS)} turns each, one process")
    p50, p99 = percentile(decisions, 0.5), percentile(decisions, 0.99)
    print(f"flow engine decision:     p50 {p50:.3f} ms   p99 {p99:.3f} ms   ({len(decisions)} decisions)")
    print(f"agent turn (AgentSession): p50 {percentile(turns, 0.5):.2f} ms   p99 {percentile(turns, 0.99):.2f} ms   "
          f"= {statistics.median(turns) / statistics.median(decisions):.0f}x the bare decision")  # fmt: skip
    print(f"first greeting text:      p50 {percentile(greetings, 0.5):.2f} ms   p99 {percentile(greetings, 0.99):.2f} ms   "
          f"(a process's very first session: {cold[0]:.0f} ms)")  # fmt: skip
    print(f"conversations/s, no database:            {in_memory_rate:.1f}")
    print(f"conversations/s, as jobs writing the DB: {job_rate:.1f}   ({job_rate / in_memory_rate:.2f} of the in-memory rate)")


if __name__ == "__main__":
    main()
