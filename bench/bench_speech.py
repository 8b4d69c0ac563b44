"""Calls held by voice with offline speech, in one process: the end-of-speech-to-first-audio gap per
language and engine, where it goes, and how many concurrent calls one process holds before it doubles.

    .venv/bin/python bench/bench_speech.py [--calls 4] [--concurrency 1,2,4]

Needs `make services speech` (Festival's Russian voice, Piper, faster-whisper and its weights). Each
call is a simulated callee (the ``agree`` persona, a local voice and recogniser of its own) on a
``PhoneLine`` to the production agent's voice pipeline: silero VAD → faster-whisper → the flow
script → the local voice. Per callee turn, at the line:

- gap: the callee's last sample → the bot's first sample (what the callee waits);
- VAD lag: the callee's last sample → the VAD calling the end of speech;
- STT: the VAD's end of speech → the final transcript;
- TTS: the reply's text → its first audio.

Baseline, measured in the same run: the floor of the gap, VAD lag + STT + TTS of the same turns (the
rest is livekit's turn handling and the playout); the ratio gap ÷ floor says how much the pipeline
adds. Concurrency: N calls at once in this process; ratio p50 gap ÷ the single-call p50 gap.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

from common import ROOT, setup_django

LANGUAGES = {
    # language: (demo skillbase, its variables, the engines to try)
    "en": ("dental_en.json", {"name": "Anna", "appointment_time": "Thursday at 10 AM", "doctor": "Dr. Lee"}, ("piper", "espeak")),
    "ru": ("salon_ru.json", {"name": "Анна", "service": "маникюр"}, ("festival",)),
}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] if ordered else float("nan")


class Turns:
    """Hooks that keep the session's per-line figures and the line itself."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict]] = []
        self.line = None
        self.vad_ends: list[float] = []

    async def event(self, kind, *, role="", text="", data=None):
        return None

    async def opted_out(self):
        return None

    async def hang_up(self):
        return None

    def listen_to(self, line) -> None:
        self.line = line

    def attach(self, session) -> None:
        def item(event) -> None:
            if getattr(event.item, "type", "") == "message" and event.item.role in ("user", "assistant"):
                self.items.append((event.item.role, dict(event.item.metrics or {})))

        def user(event) -> None:
            if event.old_state == "speaking":
                self.vad_ends.append(time.time())

        session.on("conversation_item_added", item)
        session.on("user_state_changed", user)

    def turns(self) -> list[dict]:
        """Per callee line: its gap at the line and the stages inside it (seconds)."""
        out = []
        callee = [u for u in self.line.log.callee if u.ended_at is not None]
        bot = self.line.log.bot
        users = [metrics for role, metrics in self.items if role == "user"]
        replies = [metrics for role, metrics in self.items if role == "assistant"][1:]  # not the greeting
        for index, spoken in enumerate(callee):
            after = [u.started_at for u in bot if u.started_at > spoken.ended_at]
            if not after:
                continue
            turn = {"gap": after[0] - spoken.ended_at}
            vad = [t for t in self.vad_ends if t >= spoken.ended_at - 0.05]
            if vad:
                turn["vad"] = vad[0] - spoken.ended_at
                if index < len(users) and users[index].get("transcription_delay") is not None:
                    stopped = users[index].get("stopped_speaking_at") or spoken.ended_at
                    turn["stt"] = max(stopped + users[index]["transcription_delay"] - vad[0], 0.0)
            if index < len(replies) and replies[index].get("tts_node_ttfb") is not None:
                turn["tts"] = replies[index]["tts_node_ttfb"]
            out.append(turn)
        return out


async def one_call(config, variables, seed: int) -> tuple[str, list[dict]]:
    from voiceagent.simulated_voice import simulate_voice_call

    hooks = Turns()
    result = await simulate_voice_call(config, variables, "agree", timezone="Europe/Moscow", ring_speed=0, hooks=hooks, rng_seed=seed)
    return result.outcome, hooks.turns()


def config_for(language: str, engine: str):
    from skillbases.schemas import SkillbaseConfig

    name, _variables, _engines = LANGUAGES[language]
    raw = json.loads((ROOT / "newvoice" / "demo" / name).read_text(encoding="utf-8"))
    raw["voice"].update(stt_provider="local", tts_provider="local", tts_voice=engine)
    return SkillbaseConfig.model_validate(raw)


def summarise(label: str, turns: list[dict], outcomes: list[str]) -> float:
    gaps = [t["gap"] for t in turns]
    stages = {key: [t[key] for t in turns if key in t] for key in ("vad", "stt", "tts")}
    floors = [t["vad"] + t["stt"] + t["tts"] for t in turns if all(key in t for key in ("vad", "stt", "tts"))]
    p50 = percentile(gaps, 0.5)
    print(
        f"{label:<16} turns {len(gaps):>3}  gap p50 {p50:.2f} s  p95 {percentile(gaps, 0.95):.2f} s"
        f"  | VAD {statistics.median(stages['vad'] or [0]):.2f}  STT {statistics.median(stages['stt'] or [0]):.2f}"
        f"  TTS {statistics.median(stages['tts'] or [0]):.2f} (p50 s)"
        f"  | floor p50 {percentile(floors, 0.5):.2f} s, gap ÷ floor {p50 / percentile(floors, 0.5):.2f}"
        f"  | outcomes {', '.join(sorted(outcomes))}"
    )
    return p50


async def run(args) -> None:
    from voiceagent.local_speech import warm_local_speech

    warm_local_speech(["en-US", "ru-RU"])
    from django.conf import settings

    print(f"VAD min silence {settings.NEWVOICE_VAD_MIN_SILENCE_SECONDS} s; {args.calls} calls each, one at a time")
    single: dict[str, float] = {}
    for language, (_name, variables, engines) in LANGUAGES.items():
        for engine in engines:
            turns, outcomes = [], []
            for seed in range(args.calls):
                outcome, call_turns = await one_call(config_for(language, engine), variables, seed)
                turns += call_turns
                outcomes.append(outcome)
            single[f"{language}/{engine}"] = summarise(f"{language} / {engine}", turns, outcomes)
    base = single["en/piper"]
    _name, variables, _engines = LANGUAGES["en"]
    for concurrent in [int(n) for n in args.concurrency.split(",") if int(n) > 1]:
        results = await asyncio.gather(*(one_call(config_for("en", "piper"), variables, 100 + i) for i in range(concurrent)))
        turns = [turn for _outcome, call_turns in results for turn in call_turns]
        p50 = summarise(f"en ×{concurrent} at once", turns, [outcome for outcome, _turns in results])
        print(f"{'':<16} ratio to one call at a time: {p50 / base:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--concurrency", default="1,2,4")
    args = parser.parse_args()
    setup_django("sqlite:///" + str(ROOT / "var" / "bench-speech.sqlite3"))
    import logging

    logging.disable(logging.WARNING)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
