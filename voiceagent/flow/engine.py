"""The offline, deterministic walk of a skillbase's flow.

Given what the callee just said, the engine decides which tools to call (exactly the tools a real
LLM gets: ``goto_step``, ``record_field``, ``schedule_callback``, ``opt_out``, ``handle_voicemail``,
``end_call``) and what to say. It never changes the conversation state itself, except for its own
bookkeeping (turns, misses, silences, a callback or a person being asked for, a time it offered):
tools do, so that the flow engine and a real LLM drive one and the same state machine.

Off script it behaves like a good front desk: it answers questions from the skillbase's facts and
asks its question again, says honestly that it is a virtual assistant, offers a person's call back,
apologises to a wrong person, takes a time for a yes, turns away times the business is closed, and
ends a silent call as ``no_response``, never as a failure.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from skillbases.outcomes import Outcome
from skillbases.rendering import contact_values, render
from skillbases.schemas import CollectField, SkillbaseConfig, Step
from voiceagent.flow import cues, replies
from voiceagent.flow.facts import FactBook, asks_when, is_question
from voiceagent.flow.fields import extract
from voiceagent.flow.hours import OpeningHours
from voiceagent.flow.language import asked_language, other_language
from voiceagent.flow.matching import (
    BUILTIN_PHRASES,
    DOUBTS,
    Phrase,
    compile_phrases,
    match_intents,
    normalise,
    sounds_like_voicemail,
    word_matches,
    words,
)
from voiceagent.flow.render import say_datetime
from voiceagent.flow.state import ConversationState
from voiceagent.flow.when import names_past, names_time_of_day, parse_when

# Off-script intents the engine handles itself unless the step sends them somewhere.
OWN_INTENTS = ("robot", "human", "wrong_person", "repeat")
# Values a callee may give instead of a yes ("on Friday at three" to "Shall I book you?").
TYPED_VALUES = ("datetime", "date", "time", "number", "phone", "email")
_SENTENCES = re.compile(r"(?<=[.!?…])\s+")
_DOUBTS = compile_phrases({"doubt": DOUBTS})
_NUMBERISH = re.compile(r"\d|@")  # numbers, phones and e-mails are values too


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
        self.variables = contact_values(config, variables)
        self.steps = {step.id: step for step in self.flow.steps}
        intents: dict[str, dict[str, list[str]]] = {name: dict(p) for name, p in BUILTIN_PHRASES.items()}
        intents["wrong_person"] = {**intents["wrong_person"], "": _not_them(self.variables.get("name", ""))}
        for name, by_language in self.flow.intents.items():
            merged = intents.setdefault(name, {})
            for language, phrases in by_language.items():
                merged[language] = [*merged.get(language, []), *phrases]
        self.phrases: list[Phrase] = compile_phrases(intents)
        self.facts = FactBook([render(fact, self.variables, self.flow.variable_fallbacks) for fact in config.context.facts])
        self.hours = OpeningHours(config.context, callee_timezone=timezone)

    # What to say

    def render(self, template: str, state: ConversationState) -> str:
        return render(template, {**self.variables, **state.shown}, self.flow.variable_fallbacks)

    def reprompt(self, state: ConversationState) -> str:
        """ "Say that again": the skillbase's words, or the built-in ones of the bot's language."""
        return self.render(self.flow.fallback.reprompt or replies.builtin("reprompt", self.lang), state)

    def greeting(self, state: ConversationState) -> str:
        return self.render(self.steps[state.step].say, state)

    def speech(self, state: ConversationState) -> tuple[str, str | None]:
        """What to say at the current step, and the outcome to end the call with if it is an end step."""
        step = self.steps.get(state.step)
        if step is None:
            return "", None
        return self.render(step.say, state), step.outcome if step.end else None

    def goodbye(self, outcome: str) -> str:
        return replies.goodbye(outcome, self.lang)

    def reply(self, name: str, state: ConversationState) -> str:
        """An off-script line: the skillbase's own, else the built-in one in the bot's language."""
        own = getattr(self.flow.replies, name, "")
        return self.render(own or replies.builtin(name, self.lang), state)

    def question(self, step: Step, state: ConversationState) -> str:
        """The step's question, to ask again after an aside: its last sentence that asks, else all of it."""
        text = self.render(step.say, state)
        asking = [s for s in _SENTENCES.split(text) if s.rstrip().endswith("?")]
        return asking[-1] if asking else text

    def voicemail_message(self, state: ConversationState) -> str:
        voicemail = self.flow.voicemail
        return self.render(voicemail.message, state) if voicemail.action == "leave_message" else ""

    # Times the business can honour

    def time_problem(self, wanted: CollectField, value: str, *, now: dt.datetime | None = None) -> str | None:
        """ "past" or "closed" when ``value`` (an ISO moment collected for ``wanted``) cannot be
        booked; None when it can."""
        if not wanted.checks_hours or wanted.type != "datetime":
            return None
        moment = dt.datetime.fromisoformat(value)
        if moment <= (now or dt.datetime.now(dt.UTC)):
            return "past"
        return None if self.hours.is_open(moment) else "closed"

    def _turned_away(self, state: ConversationState, step: Step, wanted: CollectField, value: str, problem: str, now) -> Decision:
        moment = dt.datetime.fromisoformat(value)
        if problem == "past":
            return Decision(say=f"{self.reply('past', state)} {self.question(step, state)}")
        local = moment.astimezone(self.hours.zone)
        hours = self.hours.describe(self.lang, local.date())
        nearest = self.hours.nearest(moment, now=now or dt.datetime.now(dt.UTC))
        text = f"{self.reply('closed', state)} {_capital(hours)}."
        if nearest is None:
            return Decision(say=f"{text} {self.question(step, state)}")
        shown = say_datetime(nearest.astimezone(moment.tzinfo), self.language)
        state.offer = {"field": wanted.field, "value": nearest.astimezone(moment.tzinfo).isoformat(), "step": step.id}
        offer = f"Могу предложить {shown}. Подойдёт?" if self.lang == "ru" else f"How about {shown}?"
        return Decision(say=f"{text} {offer}")

    # Deciding

    def decide(self, state: ConversationState, utterance: str, *, now: dt.datetime | None = None) -> Decision:
        decision = self._decide(state, utterance, now=now)
        state.greeting_unheard = False  # it counts for the callee's next line only
        return decision

    def _decide(self, state: ConversationState, utterance: str, *, now: dt.datetime | None = None) -> Decision:
        state.turns += 1
        text = (utterance or "").strip()
        step = self.steps[state.step]
        found = self._cues(state, step, text, match_intents(text, self.phrases)) if text else {}
        if state.turns == 1 and text and sounds_like_voicemail(text) and not found.keys() & {"robot", "human", "repeat"}:
            return Decision([ToolCall("handle_voicemail")])
        if state.turns > self.flow.limits.max_turns or state.elapsed > self.flow.limits.max_duration_seconds:
            return self._give_up(state)
        if not text:
            return self._silence(state, step)
        state.silences = 0
        if "opt_out" in found:
            target = self._target(step, "opt_out", "opted_out")
            if target is None:
                return Decision([ToolCall("opt_out")], say=self.goodbye(Outcome.OPTED_OUT), end=Outcome.OPTED_OUT)
            return Decision([ToolCall("opt_out"), ToolCall("goto_step", {"step": target})])
        # The script's own word for an off-script intent comes first.
        routed = [t.intent for t in step.transitions if t.intent in OWN_INTENTS and t.intent in found]
        if routed:
            return Decision(self._follow(step, max(routed, key=found.get)))
        for pending in (self._answer_offer, self._answer_human_offer):
            decision = pending(state, step, text, found, now)
            if decision is not None:
                return decision
        if "wrong_person" in found and found["wrong_person"] >= max(found.get("yes", 0), found.get("no", 0)):
            return Decision(say=self.reply("wrong_person", state), end=Outcome.WRONG_NUMBER)
        if "human" in found and found["human"] >= found.get("robot", 0):
            state.pending_human = True
            return Decision(say=self.reply("human", state))
        if "robot" in found:
            return Decision(say=f"{self.reply('robot', state)} {self.question(step, state)}")
        spoken = other_language(text, self.language)
        if spoken is not None:
            return Decision(say=replies.other_language_line(spoken, self.lang), end=Outcome.OTHER_LANGUAGE)
        if state.pending_callback and step.collect:
            collected = self._collect(state, step, text, now)
            if isinstance(collected, list):
                return Decision([*collected, ToolCall("schedule_callback", {"when": text}), *self._follow(step, "collected")])
        # "Let's find another time" where the step offers rescheduling: the script's own, longer intent wins.
        own = max((found.get(t.intent, 0) for t in step.transitions if t.intent not in BUILTIN_PHRASES), default=0)
        if "callback" in found and found["callback"] >= own:
            return self._callback(state, step, text, now)
        if step.collect:
            collected = self._collect(state, step, text, now)
            if isinstance(collected, Decision):
                return collected
            if collected is not None:
                return Decision([*collected, *self._follow(step, "collected")])
        candidates = [t.intent for t in step.transitions if t.intent not in ("collected", "opt_out", "callback", "silence")]
        intent = self._intent(text, found, candidates)
        if intent is None and not step.collect and names_time_of_day(text) and not asks_when(text):
            # "Next Monday morning, like nine?" answers the question; it does not ask about the hours.
            compound = self._value_path(state, step, text, now)
            if compound is not None:
                return compound
        fact = self.facts.lookup(text)
        routed = self._answered_by_script(step, text, fact[1], state) if fact and intent is None else None
        if routed is not None:
            return self._go(state, step, routed, text, now)
        if fact and (intent is None or is_question(text) and self._fact_first(step, intent, found[intent], fact[1], state, text)):
            return Decision(say=f"{fact[0]} {self.question(step, state)}")
        if intent == "yes" and self._ends(step, "yes"):
            # "Yes, but Friday at two works better": a value where a yes would end the call.
            compound = self._value_path(state, step, text, now)
            if compound is not None:
                return compound
        if intent:
            return self._go(state, step, intent, text, now)
        compound = self._value_path(state, step, text, now) if not step.collect else None
        if compound is not None:
            return compound
        if asked_language(text, self.language):
            return Decision(say=f"{self.reply('only_language', state)} {self.question(step, state)}")
        if "repeat" in found:
            return Decision(say=self.render(step.say, state))
        if is_question(text):
            return self._miss(state, step, self.reply("unknown_question", state))
        if sum(1 for w in words(text) if len(w) > 2) >= 2:
            return self._miss(state, step, self.reply("off_topic", state))
        return self._miss(state, step, None)

    def _cues(self, state: ConversationState, step: Step, text: str, found: dict[str, int]) -> dict[str, int]:
        """The script's intents, and what the line's shape says beyond them (``cues``): a person
        wanted outweighs "are you a robot" said with it; being busy is a callback, except where the
        step asks for a time (a booking: «я на работе до шести, давайте в семь»); "some other time"
        answers when to call back."""
        clean = normalise(text)
        if cues.wants_person(clean):
            found["human"] = max(found.get("human", 0), found.get("robot", 0) + 1, 3)
        if cues.asks_if_machine(clean):
            found["robot"] = max(found.get("robot", 0), 2)
        books = any(c.type == "datetime" and c.field != "callback_at" for c in step.collect)
        if cues.is_busy(clean) and not books and "no" not in found:  # «нет, спасибо, мне не до этого» is a no
            found["callback"] = max(found.get("callback", 0), 2)
        asks_when_to_call = state.pending_callback or any(c.field == "callback_at" for c in step.collect)
        if asks_when_to_call and cues.later(clean):
            found["callback"] = max(found.get("callback", 0), 2)
        return found

    def _answered_by_script(self, step: Step, text: str, specific: set[str], state: ConversationState) -> str | None:
        """The step's own intent whose next step speaks of what the question asks (a price list
        step for «а по деньгам сколько выйдет?»): the script's answer before the facts'."""
        asked = self.facts.topics(text)
        if not asked:
            return None
        for transition in step.transitions:
            if transition.intent in BUILTIN_PHRASES or transition.intent == "collected":
                continue
            said_next = self.render(self.steps[transition.goto].say, state)
            answer = words(said_next)
            covers = all(self.facts.speaks_of(topic, said_next) for topic in asked)
            if covers and all(any(word_matches(word, said) for said in answer) for word in specific):
                return transition.intent
        return None

    def _fact_first(self, step: Step, intent: str, weight: int, specific: set[str], state: ConversationState, text: str) -> bool:
        """Whether a question the facts answer is better answered from them than by the step's
        intent: a question is not a yes or a no, a one-word match is weak, and the script's own answer
        (the step it leads to) may not speak of what was asked ("чистка лица" on a price list without it)."""
        goto = next(t.goto for t in step.transitions if t.intent == intent)
        said_next = self.render(self.steps[goto].say, state)
        answer = words(said_next)
        missing = any(not any(word_matches(word, said) for said in answer) for word in specific)
        asked = self.facts.topics(text)
        if asked and not missing and all(self.facts.speaks_of(topic, said_next) for topic in asked):
            return False  # «Да, подскажите адрес» where the yes leads to the directions
        if weight <= 1:
            return True
        if intent in ("yes", "no"):
            return weight < 3  # «почему бы и нет» is said on purpose
        return missing

    def _intent(self, text: str, found: dict[str, int], candidates: list[str]) -> str | None:
        """The step's intent the line means (the longest phrase; the step's order on ties). A doubt
        ("I don't think I can make it", «вряд ли получится») is a no, even said with a yes."""
        doubt = "no" in candidates and bool(match_intents(text, _DOUBTS))
        weights = {intent: found[intent] for intent in candidates if intent in found}
        if not weights:
            if doubt:
                found["no"] = 1
                return "no"
            return None
        top = max(weights.values())
        intent = next(intent for intent in candidates if weights.get(intent) == top)
        if intent == "yes" and doubt:
            found["no"] = max(found.get("no", 0), top)
            return "no"
        return intent

    def _go(self, state: ConversationState, step: Step, intent: str, text: str, now) -> Decision:
        """Follow ``intent``; where the line also gives a value ("yes, on Friday at three"), go on to
        the step collecting it and collect it there."""
        calls = self._follow(step, intent)
        if not calls:
            return Decision()
        landing = self.steps[calls[-1].arguments["step"]]
        if landing.end:
            return Decision(calls)
        onward = self._value_path(state, landing, text, now)
        if onward is None:
            return Decision(calls)
        return Decision([*calls, *onward.calls], say=onward.say)

    def _value_path(self, state: ConversationState, step: Step, text: str, now) -> Decision | None:
        """Where a value is given instead of an answer: the shortest way (the step's own order on
        ties) to a step collecting such a value, and the value recorded there; None when the line
        has no value any step within reach collects. A moment needs its time of day: «какая завтра
        погода?» names a day, not a booking."""
        if not names_time_of_day(text) and not _NUMBERISH.search(text):
            return None
        if asks_when(text) and not re.search(r"\d", text):
            return None  # «до скольки вы вечером открыты?» asks about the hours; it books nothing
        if step.collect:
            collected = self._collect(state, step, text, now)
            if isinstance(collected, Decision):
                return collected
            return Decision([*collected, *self._follow(step, "collected")]) if collected else None
        skip = {"collected", "opt_out", "callback", "silence", "no", *OWN_INTENTS}
        paths: list[tuple[Step, list[ToolCall]]] = [(step, [])]
        seen = {step.id}
        for _hop in range(2):
            reached = []
            for current, calls in paths:
                for transition in current.transitions:
                    target = self.steps[transition.goto]
                    if transition.intent in skip or target.end or target.id in seen:
                        continue
                    seen.add(target.id)
                    route = [*calls, ToolCall("goto_step", {"step": target.id})]
                    if target.collect and any(c.type in TYPED_VALUES for c in target.collect):
                        collected = self._collect(state, target, text, now)
                        if isinstance(collected, Decision):
                            return Decision(route, say=collected.say)
                        if collected:
                            return Decision([*route, *collected, *self._follow(target, "collected")])
                    reached.append((target, route))
            paths = reached
        return None

    def _answer_offer(self, state: ConversationState, step: Step, text: str, found: dict[str, int], now) -> Decision | None:
        offer, state.offer = state.offer, None
        if offer is None or offer["step"] != step.id:
            return None
        if "no" in found and found["no"] >= found.get("yes", 0) or match_intents(text, _DOUBTS):
            if parse_when(text, language=self.language, tz=self.timezone, now=now) is None:
                return Decision(say=f"{self.reply('no_thanks', state)} {self.question(step, state)}")
            return None  # "no, on Monday instead": read as a new time
        if "yes" in found:
            field_name = offer["field"]
            return Decision([ToolCall("record_field", {"field": field_name, "value": offer["value"]}), *self._follow(step, "collected")])
        return None

    def _answer_human_offer(self, state: ConversationState, step: Step, text: str, found: dict[str, int], now) -> Decision | None:
        if not state.pending_human:
            return None
        state.pending_human = False
        when = parse_when(text, language=self.language, tz=self.timezone, now=now)
        wants = "yes" in found and found["yes"] >= found.get("no", 0) and not match_intents(text, _DOUBTS)
        if wants or when is not None or "human" in found or "callback" in found:
            calls = [ToolCall("schedule_callback", {"when": text})] if when is not None else []
            return Decision(calls, say=self.reply("human_booked", state), end=Outcome.HUMAN_REQUESTED)
        if "no" in found:
            return Decision(say=f"{self.reply('no_thanks', state)} {self.question(step, state)}")
        return None

    def _silence(self, state: ConversationState, step: Step) -> Decision:
        state.silences += 1
        if any(t.intent == "silence" for t in step.transitions):
            return Decision(self._follow(step, "silence"))
        if state.silences <= self.flow.fallback.retries:
            return Decision(say=f"{self.reply('still_there', state)} {self.question(step, state)}")
        return Decision(say=self.reply("silence", state), end=Outcome.NO_RESPONSE)

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
            collected = self._collect(state, landing, text, now, hours=False)
            if isinstance(collected, list):
                calls += [*collected, *self._follow(landing, "collected")]
        return Decision(calls)

    def _collect(
        self, state: ConversationState, step: Step, text: str, now: dt.datetime | None, *, hours: bool = True
    ) -> list[ToolCall] | Decision | None:
        """``record_field`` calls for what the line gives; a Decision turning away a time the business
        cannot honour (unless ``hours`` is off); None when a required field is missing."""
        calls = []
        for wanted in step.collect:
            value = extract(wanted.type, text, language=self.language, tz=self.timezone, now=now)
            if value is None:
                if hours and wanted.type == "datetime" and names_past(text, language=self.language, tz=self.timezone, now=now):
                    return Decision(say=f"{self.reply('past', state)} {self.question(step, state)}")
                if wanted.required:
                    return None
                continue
            problem = self.time_problem(wanted, value[0], now=now) if hours else None
            if problem is not None:
                return self._turned_away(state, step, wanted, value[0], problem, now)
            calls.append(ToolCall("record_field", {"field": wanted.field, "value": value[0]}))
        return calls

    def _ends(self, step: Step, intent: str) -> bool:
        goto = next((t.goto for t in step.transitions if t.intent == intent), None)
        return goto is not None and self.steps[goto].end

    def _follow(self, step: Step, intent: str) -> list[ToolCall]:
        goto = next((t.goto for t in step.transitions if t.intent == intent), None)
        return [ToolCall("goto_step", {"step": goto})] if goto else []

    def _target(self, step: Step, intent: str, outcome: str) -> str | None:
        """Where the step sends ``intent``, else the first end step with ``outcome``."""
        goto = next((t.goto for t in step.transitions if t.intent == intent), None)
        return goto or next((s.id for s in self.flow.steps if s.end and s.outcome == outcome), None)

    def _miss(self, state: ConversationState, step: Step, aside: str | None) -> Decision:
        """A line heard but not understood: the aside (or the reprompt) and the question again, then,
        after the fallback's retries, its step (or the end, ``no_response``)."""
        if state.greeting_unheard:
            state.greeting_unheard = False
            return Decision(say=self.greeting(state))
        state.misses += 1
        if state.misses <= self.flow.fallback.retries:
            if aside is None:
                return Decision(say=self.reprompt(state))
            return Decision(say=f"{aside} {self.question(step, state)}")
        return self._give_up(state)

    def _give_up(self, state: ConversationState) -> Decision:
        if self.flow.fallback.step:
            return Decision([ToolCall("goto_step", {"step": self.flow.fallback.step})])
        return Decision(say=self.goodbye(Outcome.NO_RESPONSE), end=Outcome.NO_RESPONSE)


def _not_them(name: str) -> list[str]:
    """ "I'm not Anna" / «Анны тут нет» in both languages, for the contact's first name."""
    first = words(name)[:1]
    if not first:
        return []
    them = first[0]
    phrases = [
        f"я не {them}", f"это не {them}", f"{them} здесь не живет", f"{them} тут не живет", f"i'm not {them}",
        f"i am not {them}", f"this isn't {them}", f"this is not {them}", f"{them} doesn't live here", f"no {them} here",
        f"there's no {them}", f"there is no {them}",
    ]  # fmt: skip
    for form in _genitives(them):
        phrases += [f"{form} здесь нет", f"{form} тут нет", f"никакой {form}", f"никакого {form}", f"нет здесь {form}", f"нет тут {form}"]
    return phrases


def _genitives(name: str) -> list[str]:
    """A Russian first name as «нет ...» takes it: «Анны», «Марии», «Ивана», «Игоря»."""
    if not re.search(r"[а-я]", name):
        return [name]
    if name.endswith("ия"):
        return [name[:-1] + "и"]
    if name.endswith(("а", "я")):
        soft = name[-2:-1] in "гкхжчшщ" or name.endswith("я")
        return [name[:-1] + ("и" if soft else "ы")]
    if name.endswith(("й", "ь")):
        return [name[:-1] + "я"]
    return [name + "а"]


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
