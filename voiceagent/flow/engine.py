"""The offline, deterministic walk of a skillbase's flow.

Given what the callee just said, the engine decides which tools to call (exactly the tools a real
LLM gets: ``goto_step``, ``record_field``, ``schedule_callback``, ``opt_out``, ``handle_voicemail``,
``end_call``) and what to say. It never changes the conversation state itself, except for its own
bookkeeping (turns, misses, a callback being asked for): tools do, so that the flow engine and a
real LLM drive one and the same state machine.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from skillbases.outcomes import Outcome
from skillbases.schemas import SkillbaseConfig, Step
from voiceagent.flow.fields import extract
from voiceagent.flow.matching import BUILTIN_PHRASES, Phrase, best_intent, compile_phrases, match_intents, sounds_like_voicemail
from voiceagent.flow.render import render
from voiceagent.flow.state import ConversationState
from voiceagent.flow.when import parse_when

GOODBYE = {
    Outcome.OPTED_OUT: {
        "ru": "Поняла, больше не будем вас беспокоить. Всего доброго!",
        "en": "Understood, we won't call you again. Goodbye!",
    },
    Outcome.CALLBACK_REQUESTED: {"ru": "Хорошо, перезвоним. Всего доброго!", "en": "Sure, we'll call you back. Goodbye!"},
    Outcome.FAILED: {"ru": "Извините, вас плохо слышно. Всего доброго!", "en": "Sorry, I can't hear you well. Goodbye!"},
}


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass
class Decision:
    """Tools to call first; then ``say`` (or, when it is None, the step the tools led to); then, when
    ``end`` is set, ``end_call`` with that outcome."""

    calls: list[ToolCall] = field(default_factory=list)
    say: str | None = None
    end: str | None = None


class FlowEngine:
    def __init__(self, config: SkillbaseConfig, variables: dict[str, Any], *, timezone: str):
        self.config = config
        self.flow = config.flow
        self.language = config.language
        self.lang = self.language.split("-")[0]
        self.timezone = timezone
        self.variables = {
            "company": config.context.company,
            "agent_name": config.context.agent_name,
            **{k: v for k, v in variables.items() if v not in (None, "")},
        }
        self.steps = {step.id: step for step in self.flow.steps}
        intents: dict[str, dict[str, list[str]]] = {name: dict(p) for name, p in BUILTIN_PHRASES.items()}
        for name, by_language in self.flow.intents.items():
            merged = intents.setdefault(name, {})
            for language, phrases in by_language.items():
                merged[language] = [*merged.get(language, []), *phrases]
        self.phrases: list[Phrase] = compile_phrases(intents)

    # What to say

    def render(self, template: str, state: ConversationState) -> str:
        return render(template, {**self.variables, **state.shown})

    def greeting(self, state: ConversationState) -> str:
        return self.render(self.steps[state.step].say, state)

    def speech(self, state: ConversationState) -> tuple[str, str | None]:
        """What to say at the current step, and the outcome to end the call with if it is an end step."""
        step = self.steps.get(state.step)
        if step is None:
            return "", None
        return self.render(step.say, state), step.outcome if step.end else None

    def goodbye(self, outcome: str) -> str:
        texts = GOODBYE.get(outcome, GOODBYE[Outcome.FAILED])
        return texts.get(self.lang, texts["en"])

    def voicemail_message(self, state: ConversationState) -> str:
        voicemail = self.flow.voicemail
        return self.render(voicemail.message, state) if voicemail.action == "leave_message" else ""

    # Deciding

    def decide(self, state: ConversationState, utterance: str, *, now: dt.datetime | None = None) -> Decision:
        state.turns += 1
        text = (utterance or "").strip()
        step = self.steps[state.step]
        if state.turns == 1 and text and sounds_like_voicemail(text):
            return Decision([ToolCall("handle_voicemail")])
        if state.turns > self.flow.limits.max_turns or state.elapsed > self.flow.limits.max_duration_seconds:
            return self._give_up()
        found = match_intents(text, self.phrases) if text else {"silence": 1}
        if "opt_out" in found:
            target = self._target(step, "opt_out", "opted_out")
            if target is None:
                return Decision([ToolCall("opt_out")], say=self.goodbye(Outcome.OPTED_OUT), end=Outcome.OPTED_OUT)
            return Decision([ToolCall("opt_out"), ToolCall("goto_step", {"step": target})])
        if state.pending_callback and step.collect:
            collected = self._collect(step, text, now)
            if collected is not None:
                return Decision([*collected, ToolCall("schedule_callback", {"when": text}), *self._follow(step, "collected")])
        if "callback" in found:
            return self._callback(state, step, text, now)
        if step.collect:
            collected = self._collect(step, text, now)
            if collected is not None:
                return Decision([*collected, *self._follow(step, "collected")])
        candidates = [t.intent for t in step.transitions if t.intent not in ("collected", "opt_out", "callback")]
        intent = "silence" if not text and "silence" in candidates else best_intent(text, self.phrases, candidates)
        if intent:
            return Decision(self._follow(step, intent))
        return self._miss(state)

    def _callback(self, state: ConversationState, step: Step, text: str, now: dt.datetime | None) -> Decision:
        when = parse_when(text, language=self.language, tz=self.timezone, now=now)
        target = self._target(step, "callback", "callback_requested")
        calls = [ToolCall("schedule_callback", {"when": text})] if when else []
        state.pending_callback = when is None
        if target is None:
            return Decision(calls, say=self.goodbye(Outcome.CALLBACK_REQUESTED), end=Outcome.CALLBACK_REQUESTED)
        calls.append(ToolCall("goto_step", {"step": target}))
        landing = self.steps[target]
        if when and landing.collect:
            collected = self._collect(landing, text, now)
            if collected is not None:
                calls += [*collected, *self._follow(landing, "collected")]
        return Decision(calls)

    def _collect(self, step: Step, text: str, now: dt.datetime | None) -> list[ToolCall] | None:
        calls = []
        for wanted in step.collect:
            value = extract(wanted.type, text, language=self.language, tz=self.timezone, now=now)
            if value is None:
                if wanted.required:
                    return None
                continue
            calls.append(ToolCall("record_field", {"field": wanted.field, "value": text if wanted.type != "text" else value[0]}))
        return calls

    def _follow(self, step: Step, intent: str) -> list[ToolCall]:
        goto = next((t.goto for t in step.transitions if t.intent == intent), None)
        return [ToolCall("goto_step", {"step": goto})] if goto else []

    def _target(self, step: Step, intent: str, outcome: str) -> str | None:
        """Where the step sends ``intent``, else the first end step with ``outcome``."""
        goto = next((t.goto for t in step.transitions if t.intent == intent), None)
        return goto or next((s.id for s in self.flow.steps if s.end and s.outcome == outcome), None)

    def _miss(self, state: ConversationState) -> Decision:
        state.misses += 1
        if state.misses <= self.flow.fallback.retries:
            return Decision(say=self.render(self.flow.fallback.reprompt, state))
        return self._give_up()

    def _give_up(self) -> Decision:
        if self.flow.fallback.step:
            return Decision([ToolCall("goto_step", {"step": self.flow.fallback.step})])
        return Decision(say=self.goodbye(Outcome.FAILED), end=Outcome.FAILED)
