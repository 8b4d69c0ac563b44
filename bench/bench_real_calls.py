"""Real calls on loopback, timed at the phone (the caller's side, as LiveKit's benchmarking guide
asks): the livekit dialer → the real LiveKit server → a ``run_agent`` worker → the real SIP service
→ a phone that talks (``tests/support/rtp_phone.py``), with local speech (Piper, faster-whisper).

    .venv/bin/python bench/bench_real_calls.py [--calls 20]

Needs `make services livekit speech` (PostgreSQL, Redis, the built server and SIP service, the local
voices). Per call, measured at the phone:
- dispatch → ringing: from ``place_call`` starting to the INVITE reaching the phone;
- answer → greeting: from the phone's 200 OK to the first sound of the bot's greeting it hears;
- reply gap: from the end of the phone's "Yes, sure." to the first sound of the bot's answer;
and p50/p95 of each, with the ratio of the reply gap to the greeting's (the same synthesis path,
plus recognising the callee and deciding). Calls run one after another.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from common import ROOT, ensure_database, setup_django

DATABASE = "postgres://postgres@127.0.0.1:5432/newvoice_bench_calls"
REDIS = "redis://127.0.0.1:6379/3"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    ensure_database(DATABASE)
    setup_django(DATABASE, REDIS_URL=REDIS)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.conf import settings

    from tests.support.real_livekit import API_KEY, API_SECRET, agent_worker, running_livekit

    with running_livekit(REDIS) as livekit:
        settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = livekit.url, API_KEY, API_SECRET
        settings.LIVEKIT_AGENT_NAME = f"bench-agent-{os.getpid()}"
        settings.NEWVOICE_DIALERS = {**settings.NEWVOICE_DIALERS, "livekit": "voiceagent.dialers.livekit.LiveKitDialer"}
        with agent_worker(livekit, agent_name=settings.LIVEKIT_AGENT_NAME, redis_url=REDIS):
            results = [one_call(livekit, number) for number in range(args.calls)]
    report(results)


def one_call(livekit, number: int) -> dict[str, float]:
    from asgiref.sync import async_to_sync
    from livekit import api

    from campaigns.models import Call, CallTask, Campaign
    from campaigns.tasks import place_call
    from skillbases.models import Skillbase
    from tenancy.models import Organization
    from tests.support.real_livekit import API_KEY, API_SECRET
    from tests.support.rtp_phone import RtpPhone
    from tests.test_real_calls import spoken

    global _SETUP
    if "_SETUP" not in globals():
        import copy

        from tests.conftest import MINIMAL_CONFIG

        config = copy.deepcopy(MINIMAL_CONFIG)
        config["voice"] = {"stt_provider": "local", "stt_model": "tiny.en", "tts_provider": "local", "tts_model": "piper",
                           "tts_voice": "", "language": "en-US"}  # fmt: skip
        organization, _ = Organization.objects.get_or_create(
            slug="bench-calls", defaults={"name": "Bench calls", "max_concurrent_calls": 100}
        )
        skillbase = Skillbase(organization=organization, name=f"Bench voice {time.time()}", **config)
        skillbase.save()
        _SETUP = (organization, skillbase, spoken("Hello?"), spoken("Yes, sure."))
    organization, skillbase, hello, yes = _SETUP

    async def trunk(address: str) -> str:
        async with api.LiveKitAPI(livekit.url, API_KEY, API_SECRET) as lk:
            info = api.SIPOutboundTrunkInfo(name="bench phone", address=address, numbers=["+15550000000"])
            return (await lk.sip.create_outbound_trunk(api.CreateSIPOutboundTrunkRequest(trunk=info))).sip_trunk_id

    with RtpPhone(plays=hello) as phone:
        campaign = Campaign.objects.create(
            organization=organization, name=f"Bench call {number}", skillbase=skillbase, status=Campaign.Status.RUNNING,
            dialer="livekit", sip_trunk_id=async_to_sync(trunk)(phone.address), caller_id="+15550000000",
        )  # fmt: skip
        task = CallTask.objects.create(
            organization=organization, campaign=campaign, phone=f"+1555123{number:04d}", name="Anna", status="in_progress", attempts=1
        )
        call = Call.objects.create(
            organization=organization, campaign=campaign, task=task, attempt=1, skillbase_version=skillbase.current_version,
            phone=task.phone, dialer="livekit",
        )  # fmt: skip
        started = time.monotonic()
        place_call(call.pk)
        deadline = time.monotonic() + 60
        while phone.first_audio_at is None or not phone.quiet_for(1.2):
            if time.monotonic() > deadline:
                raise RuntimeError(f"call {call.pk}: no greeting at the phone")
            time.sleep(0.05)
        phone.say(yes)
        while phone.said_until is None or phone.heard_after(phone.said_until) is None:
            if time.monotonic() > deadline + 30:
                raise RuntimeError(f"call {call.pk}: no reply at the phone")
            time.sleep(0.05)
        figures = {
            "dispatch_to_ringing": phone.invited_at - started,
            "answer_to_greeting": phone.first_audio_at - phone.answered_at,
            "reply_gap": phone.heard_after(phone.said_until) - phone.said_until,
        }
        while Call.objects.filter(pk=call.pk, status=Call.Status.ENDED).count() == 0 and time.monotonic() < deadline + 60:
            time.sleep(0.2)
    print(f"call {number + 1}: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in figures.items()), flush=True)
    return figures


def report(results: list[dict[str, float]]) -> None:
    print(f"\n{len(results)} calls, one after another")
    print(f"{'figure':<22}{'p50 s':>8}{'p95 s':>8}{'mean s':>8}")
    for name in ("dispatch_to_ringing", "answer_to_greeting", "reply_gap"):
        values = [r[name] for r in results]
        print(f"{name:<22}{percentile(values, 0.5):>8.2f}{percentile(values, 0.95):>8.2f}{statistics.mean(values):>8.2f}")
    gap = statistics.median(r["reply_gap"] for r in results) / statistics.median(r["answer_to_greeting"] for r in results)
    print(f"ratio reply gap / answer-to-greeting (p50): {gap:.2f}")


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    os.chdir(ROOT)
    main()
