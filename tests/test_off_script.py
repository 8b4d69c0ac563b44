"""Off script: callee lines a demo skillbase's phrases do not contain, and what a good front desk
does with each (tests/off_script/cases_*.json), through the production agent in text mode.

Prints the accuracy per category; `pytest tests/test_off_script.py -s` shows the table. Each case
is a fresh call: the ``before`` lines, then the line, then its expectations:

- ``contains`` (any of) / ``absent`` (none of): in what the bot said in reply to the line;
- ``greeting_absent``: not in the greeting (a contact with empty variables);
- ``outcome``: the call ended with it; ``continues``: the call goes on;
- ``step``: the step the conversation is at; ``collected`` / ``not_collected``: a field, and
  ``collected_hour`` its hour of day.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from pathlib import Path

import pytest

from skillbases.schemas import validate_config
from voiceagent.flow.matching import normalise
from voiceagent.text import TextConversation

HERE = Path(__file__).resolve().parent
DEMO = HERE.parent / "newvoice" / "demo"
BOTS = {
    "ru": ("salon_ru.json", {"name": "Анна", "service": "маникюр"}, "Europe/Moscow"),
    "en": ("dental_en.json", {"name": "Dana", "appointment_time": "Thursday at 10 AM", "doctor": "Dr. Lee"}, "America/New_York"),
}
# What the set must reach, overall and in every category.
OVERALL, PER_CATEGORY = 0.95, 0.75


# cases_*: written alongside the engine; second_* and third_*: written apart from it, each by someone
# who read only the demo skillbases (first measured at 77.8% and 91.2% before the engine learned
# from them).
SETS = ("cases", "second", "third")


def _cases(language: str) -> list[dict]:
    return [case for name in SETS for case in json.loads((HERE / "off_script" / f"{name}_{language}.json").read_text(encoding="utf-8"))]


def _raw(language: str) -> dict:
    return json.loads((DEMO / BOTS[language][0]).read_text(encoding="utf-8"))


async def _run(language: str, case: dict) -> list[str]:
    """The problems with the bot's handling of ``case``; [] when it did what was expected."""
    raw = _raw(language)
    config = validate_config({k: raw[k] for k in ("context", "flow", "voice", "llm")})
    _file, contact, tz = BOTS[language]
    chat = TextConversation(config, case.get("contact", contact), timezone=tz)
    problems: list[str] = []
    try:
        greeting = " ".join(line.text for line in await chat.start() if line.kind == "say")
        for before in case.get("before", []):
            if chat.ended:
                return [f"the call ended before the line (at {before!r})"]
            await chat.send(before)
        if chat.ended:
            return ["the call ended before the line"]
        reply = " ".join(line.text for line in await chat.send(case["line"]) if line.kind == "say")
        state = chat.state
    finally:
        await chat.aclose()
    expect = case["expect"]
    said = reply.lower()
    if "contains" in expect and not any(text.lower() in said for text in expect["contains"]):
        problems.append(f"said {reply!r}, with none of {expect['contains']}")
    for text in expect.get("absent", []):
        if text.lower() in said:
            problems.append(f"said {reply!r}, with {text!r}")
    for text in expect.get("greeting_absent", []):
        if text in greeting:
            problems.append(f"greeted {greeting!r}, with {text!r}")
    if "outcome" in expect and (not state.ended or state.outcome != expect["outcome"]):
        problems.append(f"outcome {state.outcome or '-'} (ended: {state.ended}), not {expect['outcome']}")
    if expect.get("continues") and state.ended:
        problems.append(f"the call ended ({state.outcome}) after saying {reply!r}")
    if "step" in expect and state.step != expect["step"]:
        problems.append(f"at step {state.step}, not {expect['step']} (said {reply!r})")
    if "collected" in expect:
        value = state.collected.get(expect["collected"])
        if value is None:
            problems.append(f"collected {state.collected}, not {expect['collected']} (said {reply!r})")
        elif "collected_hour" in expect and dt.datetime.fromisoformat(value).hour != expect["collected_hour"]:
            problems.append(f"collected {expect['collected']} = {value}, not at {expect['collected_hour']}:00")
    if "not_collected" in expect and expect["not_collected"] in state.collected:
        problems.append(f"collected {expect['not_collected']} = {state.collected[expect['not_collected']]} (said {reply!r})")
    return problems


async def test_off_script_accuracy_per_category(capsys):
    results: dict[str, list[bool]] = defaultdict(list)
    failures = []
    for language in BOTS:
        for case in _cases(language):
            problems = await _run(language, case)
            results[f"{case['cat']}"].append(not problems)
            results[f"{language}:{case['cat']}"].append(not problems)
            if problems:
                failures.append(f"[{language}] {case['cat']}: {case['line']!r}: {'; '.join(problems)}")
    everything = [ok for key, oks in results.items() if ":" in key for ok in oks]
    overall = sum(everything) / len(everything)
    with capsys.disabled():
        print(f"\nOff-script evaluation: {sum(everything)}/{len(everything)} = {overall:.1%}")
        for key in sorted(k for k in results if ":" not in k):
            oks = results[key]
            by_language = "  ".join(
                f"{lang} {sum(results[f'{lang}:{key}'])}/{len(results[f'{lang}:{key}'])}" for lang in BOTS if f"{lang}:{key}" in results
            )
            print(f"  {key:<15} {sum(oks) / len(oks):6.1%}   {by_language}")
        for failure in failures:
            print("  ✗", failure)
    weak = {key: sum(oks) / len(oks) for key, oks in results.items() if ":" not in key and sum(oks) / len(oks) < PER_CATEGORY}
    assert overall >= OVERALL and not weak, f"overall {overall:.1%}; categories under {PER_CATEGORY:.0%}: {weak}"


@pytest.mark.parametrize("language", list(BOTS))
def test_the_set_is_not_the_scripts_own_phrases(language):
    """The lines are what callees say, not the phrases the demo script already lists."""
    raw = _raw(language)
    phrases = {normalise(p) for by_language in raw["flow"]["intents"].values() for items in by_language.values() for p in items}
    lines = [case["line"] for case in _cases(language) if case["line"]]
    assert not [line for line in lines if normalise(line) in phrases]
    assert len(lines) == len(set(lines))


def test_the_set_covers_every_category_in_both_languages():
    wanted = {
        "facts", "robot", "human", "closed_time", "skip_answer", "soft_yes", "soft_no", "wrong_person", "busy",
        "other_language", "off_topic", "silence", "on_script", "empty_variable",
    }  # fmt: skip
    for language in BOTS:
        assert {case["cat"] for case in _cases(language)} == wanted
    assert sum(len(_cases(language)) for language in BOTS) >= 150


def test_sentiment_reads_politeness_right(capsys):
    """A labelled set of callee lines (tests/off_script/sentiment.json): polite refusals and "not now"
    are neutral, not negative."""
    from analytics.quality import sentiment

    lines = json.loads((HERE / "off_script" / "sentiment.json").read_text(encoding="utf-8"))
    assert len(lines) >= 100 and {label for _text, label in lines} == {"positive", "neutral", "negative"}
    wrong = [(text, label, sentiment([text])[1]) for text, label in lines if sentiment([text])[1] != label]
    accuracy = 1 - len(wrong) / len(lines)
    with capsys.disabled():
        print(f"\nSentiment: {len(lines) - len(wrong)}/{len(lines)} = {accuracy:.1%}")
        for text, label, got in wrong:
            print(f"  ✗ {text!r}: {got}, labelled {label}")
    assert sentiment(["Сейчас неудобно. Завтра после пяти."])[1] == "neutral"
    assert sentiment(["Not a good time"])[1] == "neutral"
    assert accuracy >= 0.95
