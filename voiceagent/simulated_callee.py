"""Simulated callees: who answers a simulated call, and what they say to the real agent.

A persona is chosen per contact (the ``persona`` column) or by seeded chance from the campaign's
mix. ``busy``, ``no_answer``, ``invalid`` and ``declined`` never answer: the call just rings for a
realistic while. Everyone else answers and talks to the production ``SkillbaseAgent`` in a
text-mode ``AgentSession`` (``TextConversation``), whose replies take time to play
(``simulated_audio``), so that a callee can talk over them as on a real line.

Human callees are goal-directed over the skillbase's own flow graph, so they work for any valid
script, not just the demos: at each step they take the transition that lies on a shortest path to
an end step with the outcome they are after, in the skillbase's own intent phrases (its language
first), and answer a collecting step with a value of the asked type. They may peek at the
conversation's current step (a simulator may) and check a phrase against the flow engine before
saying it, the way a person rephrases until understood; what they say still goes through the agent.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import logging
import random
import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from skillbases.outcomes import Outcome
from skillbases.schemas import SkillbaseConfig, Step
from voiceagent.agent import CallHooks
from voiceagent.flow.conversation import Conversation
from voiceagent.flow.matching import BUILTIN_PHRASES
from voiceagent.flow.state import ConversationState
from voiceagent.simulated_audio import Playback, SimulatedClock, SimulatedPlayout, speaking_seconds
from voiceagent.text import TextConversation

logger = logging.getLogger(__name__)

# Who picks up and what they are after.
GOALS = {
    "agree": Outcome.SUCCESS,
    "interrupt": Outcome.SUCCESS,
    "refuse": Outcome.REFUSAL,
    "callback": Outcome.CALLBACK_REQUESTED,
    "opt_out": Outcome.OPTED_OUT,
}
HUMAN_PERSONAS = (*GOALS, "silent")
# Lines that never answer, with the outcome the dialer reports and how long they ring (seconds).
UNANSWERED = {"busy": Outcome.BUSY, "no_answer": Outcome.NO_ANSWER, "invalid": Outcome.INVALID_NUMBER, "declined": Outcome.DECLINED}
PERSONAS = (*HUMAN_PERSONAS, "voicemail", *UNANSWERED)
DEFAULT_MIX = {
    "agree": 45,
    "refuse": 15,
    "callback": 10,
    "voicemail": 10,
    "silent": 3,
    "interrupt": 5,
    "opt_out": 2,
    "busy": 5,
    "no_answer": 5,
}
RINGING_TIMEOUT = 30.0
# Seconds a line rings: busy gives its tone after a ring or two, the network refuses an invalid
# number at once, a mailbox picks up after several rings; a person answers within a few.
RING_SECONDS = {"busy": (2, 6), "invalid": (0.5, 1.5), "declined": (4, 15), "voicemail": (15, 25)}
ANSWER_RING_SECONDS = (3, 12)
MAX_BARGE_INS = 2  # an impatient callee talks over the bot this often per call, at most
LOCATE_THRESHOLD = 0.6  # share of the words heard (or of a short step's) that must be the step's own
LOCATE_MIN_WORDS = 3
_WORD = re.compile(r"\w{3,}")  # words that tell lines apart: not "I", "a", "t" of "didn't"

# What callees say in their own words, by language (the script's phrases are used where it has them).
WORDS = {
    "ru": {
        "booking_time": "завтра в 15:00",
        "callback_time": "завтра после пяти",
        "date": "завтра",
        "time": "в 15:00",
        "callback_date": "завтра",
        "callback_clock": "после пяти",
        "number": "2",
        "email": "client@example.com",
        "phone": "+7 916 123-45-67",
        "yes": "да",
        "no": "нет",
        "text": "Да, всё верно",
        "agree": "Да, конечно",
        "refuse": "Нет, спасибо, мне это не интересно",
        "voicemail": "Здравствуйте, вы позвонили на голосовую почту. Абонент не может сейчас ответить. "
        "Оставьте сообщение после звукового сигнала.",
    },
    "en": {
        "booking_time": "tomorrow at 3 pm",
        "callback_time": "tomorrow after five",
        "date": "tomorrow",
        "time": "at 3 pm",
        "callback_date": "tomorrow",
        "callback_clock": "after five",
        "number": "2",
        "email": "client@example.com",
        "phone": "+1 212 555 0147",
        "yes": "yes",
        "no": "no",
        "text": "Yes, that's right",
        "agree": "Yes, sure",
        "refuse": "No thanks, I'm not interested",
        "voicemail": "Hi, you've reached my voicemail. I can't take your call right now, please leave a message after the tone.",
    },
}


class TranscriptLine(NamedTuple):
    role: str  # "assistant" or "user"
    text: str  # what was actually said: an interrupted reply keeps only the words played
    interrupted: bool


@dataclass
class SimulatedCall:
    persona: str
    outcome: str
    answered: bool
    ring_seconds: float
    talk_seconds: float = 0.0
    transcript: list[TranscriptLine] = field(default_factory=list)
    state: ConversationState | None = None  # None when nobody answered
    slept_seconds: float = 0.0  # real time spent waiting: the simulated time times the speed
    # By voice (``simulated_voice``): what the callee heard and said each turn, when each side
    # spoke on the line, and when the recording started (wall clock).
    heard: list = field(default_factory=list)
    line: Any = None
    recording_started_at: float | None = None

    @property
    def interruptions(self) -> int:
        return sum(1 for line in self.transcript if line.interrupted)

    @property
    def collected(self) -> dict[str, Any]:
        return self.state.collected if self.state else {}

    @property
    def callback_at(self):
        return self.state.callback_at if self.state else None

    @property
    def opted_out(self) -> bool:
        return bool(self.state and self.state.opted_out)

    @property
    def steps_reached(self) -> list[str]:
        return self.state.steps_reached if self.state else []


def _unit(*parts: Any) -> float:
    """A number in [0, 1) fixed by ``parts``, the same in every process (unlike ``hash()``)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _rng(*parts: Any) -> random.Random:
    return random.Random(int(_unit(*parts) * 2**53))


def _weight(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else 0.0


def choose_persona(task_variables: Mapping[str, Any] | None, mix: Mapping[str, Any] | None, seed: int, task_id: Any) -> str:
    """The contact's own ``persona`` when it names one, else a weighted pick from ``mix`` that
    depends only on (seed, task id): a re-run of a campaign meets the same callees."""
    named = str((task_variables or {}).get("persona") or "").strip().lower().replace("-", "_")
    if named in PERSONAS:
        return named
    weights = [(p, _weight(w)) for p, w in sorted((mix or {}).items()) if p in PERSONAS and _weight(w)]
    weights = weights or sorted(DEFAULT_MIX.items())
    point = _unit("persona", seed, task_id) * sum(w for _, w in weights)
    for persona, weight in weights:
        point -= weight
        if point < 0:
            return persona
    return weights[-1][0]


def _ring_seconds(persona: str, rng: random.Random, ringing_timeout: float) -> float:
    if persona == "no_answer":
        return ringing_timeout
    low, high = RING_SECONDS.get(persona, ANSWER_RING_SECONDS)
    return round(min(rng.uniform(low, high), ringing_timeout), 2)


# The flow as a graph


class FlowMap:
    """The script's steps as a graph a callee can plan over. The built-in ``opt_out`` and
    ``callback`` intents work from every step, as the flow engine handles them there."""

    def __init__(self, config: SkillbaseConfig) -> None:
        self.steps = {step.id: step for step in config.flow.steps}
        self._ends = {step.outcome: step.id for step in reversed(config.flow.steps) if step.end}

    def edges(self, node: str) -> list[tuple[str, str]]:
        step = self.steps.get(node)
        if step is None or step.end:
            return []
        edges = [(t.intent, t.goto) for t in step.transitions]
        own = {t.intent for t in step.transitions}
        for intent, outcome in (("opt_out", "opted_out"), ("callback", "callback_requested")):
            if intent not in own:
                # Where the engine takes it: the first end step with that outcome, else it says goodbye.
                edges.append((intent, self._ends.get(outcome, f"<{outcome}>")))
        # Someone who wants something says it: keep staying silent for when nothing else leads there.
        return sorted(edges, key=lambda edge: edge[0] == "silence")

    def outcome(self, node: str) -> str | None:
        if node.startswith("<"):
            return node[1:-1]
        step = self.steps[node]
        return step.outcome if step.end else None

    def path(self, start: str, arrived: Callable[[str], bool]) -> list[tuple[str, str]] | None:
        """The fewest (intent, step) moves from ``start`` to a node where ``arrived`` holds."""
        parents: dict[str, tuple[str, str] | None] = {start: None}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            if arrived(node):
                route = []
                while parents[node] is not None:
                    previous, intent = parents[node]
                    route.append((intent, node))
                    node = previous
                return route[::-1]
            for intent, target in self.edges(node):
                if target not in parents:
                    parents[target] = (node, intent)
                    queue.append(target)
        return None


# The callee


class Callee:
    """What one persona says, turn by turn, and whether it talks over the bot."""

    def __init__(self, persona: str, conversation: Conversation, rng: random.Random) -> None:
        self.persona = persona
        self.conversation = conversation
        self.config = conversation.config
        self.map = FlowMap(self.config)
        self.rng = rng
        self.lang = self.config.language.split("-")[0].lower()
        self.words = WORDS.get(self.lang, WORDS["en"])
        self.turns = 0
        self.barge_ins = 0
        self._barge_at: dict[int, int] = {}
        self._at = conversation.state.step

    @property
    def believed(self) -> str:
        """The step the callee last took the call to be at."""
        return self._at

    @property
    def goal(self) -> str | None:
        return GOALS.get(self.persona)

    def reply(self, at: str | None = None) -> str:
        """What to say now; "" is saying nothing. ``at``: the step the callee believes the call is
        at (by voice: the one it recognised in what it heard); else the conversation's own."""
        self.turns += 1
        self._at = at if at in self.map.steps else self.conversation.state.step
        if self.persona == "silent":
            return ""
        if self.persona == "voicemail":
            return self.words["voicemail"] if self.turns == 1 else ""  # then it records, silently
        if self.persona in ("agree", "interrupt") and self.conversation.state.offer:
            return self._spoken(self.words["agree"])  # the time it asked for is closed: take the one offered
        route = self._route()
        if not route:
            return self._spoken(self.words["refuse" if self.persona == "refuse" else "agree"])
        intent = route[0][0]
        bound_for = {node for _intent, node in route}
        candidates = self._utterances(intent)
        return next((text for text in candidates if self._landing(text) in bound_for), candidates[0])

    def locate(self, heard: str) -> str | None:
        """The step whose words best match what the callee heard the bot say (by voice, through its
        own recogniser), from the whole line or its first words (a callee about to barge in); None
        when none clearly does (a reprompt, a misheard line)."""
        heard_words = set(_WORD.findall(heard.lower()))
        if not heard_words:
            return None
        state, engine = self.conversation.state, self.conversation.engine
        best, best_key = None, (0.0, 0)
        for step in self.config.flow.steps:
            said = set(_WORD.findall(engine.render(step.say, state).lower()))
            common = len(said & heard_words)
            if not said or common < min(LOCATE_MIN_WORDS, len(said)):
                continue
            key = (common / min(len(said), len(heard_words)), common)
            if key > best_key:
                best, best_key = step.id, key
        return best if best_key[0] >= LOCATE_THRESHOLD else None

    def asked_again(self, heard: str) -> bool:
        """Whether what the callee heard is the script's "say that again" (its fallback reprompt)."""
        reprompt = set(_WORD.findall(self.conversation.engine.reprompt(self.conversation.state).lower()))
        heard_words = set(_WORD.findall(heard.lower()))
        return bool(reprompt) and len(reprompt & heard_words) >= max(2, len(reprompt) // 2)

    def hears(self, session, playback: Playback) -> bool:
        """Barge in mid-utterance (the ``interrupt`` persona): True once it has cut the bot off."""
        if self.persona != "interrupt" or self.barge_ins >= MAX_BARGE_INS:
            return False
        state = self.conversation.state
        if state.ended or state.voicemail or self.map.steps[state.step].end:
            return False  # nothing to gain from talking over a goodbye
        words = len(playback.text.split())
        if words < 4:
            return False
        # Somewhere in the middle: enough to get the gist, never the whole thing.
        wanted = self._barge_at.setdefault(playback.segment, self.rng.randint(max(1, words // 3), max(1, 2 * words // 3)))
        if len(playback.heard.split()) < wanted:
            return False
        try:
            session.interrupt()
        except RuntimeError:  # this utterance may not be interrupted; keep listening
            return False
        self.barge_ins += 1
        return True

    # Planning

    def _route(self) -> list[tuple[str, str]] | None:
        if self.persona in ("agree", "interrupt"):
            # A willing callee books: prefer a way through the steps that collect something.
            routes = [r for r in map(self._route_collecting, self.config.flow.steps) if r is not None]
            if routes:
                return min(routes, key=len)
        return self.map.path(self._at, self._arrived)

    def _arrived(self, node: str) -> bool:
        return self.map.outcome(node) == self.goal

    def _route_collecting(self, step: Step) -> list[tuple[str, str]] | None:
        collected = self.conversation.state.collected
        goto = next((t.goto for t in step.transitions if t.intent == "collected"), None)
        if goto is None or all(c.field in collected for c in step.collect if c.required):
            return None
        to_step = self.map.path(self._at, lambda node: node == step.id)
        onwards = self.map.path(goto, self._arrived)
        if to_step is None or onwards is None:
            return None
        return [*to_step, ("collected", goto), *onwards]

    def _landing(self, text: str) -> str:
        """Where the flow engine would take the conversation on ``text`` (a dry run on a copy)."""
        conversation = self.conversation
        state = copy.deepcopy(conversation.state)
        state.step = self._at
        decision = conversation.engine.decide(state, text)
        node = state.step
        for call in decision.calls:
            if call.name == "goto_step":
                node = call.arguments["step"]
        if decision.end and node == state.step:
            return f"<{decision.end}>"
        return node

    # Wording

    def _utterances(self, intent: str) -> list[str]:
        if intent == "collected":
            return [self._spoken(self._values(self.map.steps[self._at]))]
        if intent == "silence":
            return [""]
        phrases = self._phrases(intent)
        if intent == "callback":
            return [f"{self._spoken(phrase)}. {self._spoken(self.words['callback_time'])}." for phrase in phrases]
        return [self._spoken(phrase) for phrase in phrases] or [self._spoken(self.words["agree"])]

    def _phrases(self, intent: str) -> list[str]:
        sources = [self.config.flow.intents.get(intent, {}), BUILTIN_PHRASES.get(intent, {})]
        own = [p for source in sources for language, items in source.items() if language.split("-")[0].lower() == self.lang for p in items]
        phrases = list(dict.fromkeys(own or [p for source in sources for items in source.values() for p in items]))
        self.rng.shuffle(phrases)
        return phrases

    def _values(self, step: Step) -> str:
        # Dates and times last: a number said after a time would be read as part of it.
        fields = sorted(step.collect, key=lambda c: c.type in ("datetime", "date", "time"))
        return ", ".join(self._value(c.type) for c in fields)

    def _value(self, kind: str) -> str:
        words = self.words
        if self.persona == "callback" and kind in ("datetime", "date", "time"):
            return {"datetime": words["callback_time"], "date": words["callback_date"], "time": words["callback_clock"]}[kind]
        if kind == "datetime":
            return words["booking_time"]
        if kind == "yes_no":
            return words["no" if self.persona == "refuse" else "yes"]
        return words[kind]

    @staticmethod
    def _spoken(text: str) -> str:
        return text[:1].upper() + text[1:]


# The call


async def simulate_call(
    config: SkillbaseConfig,
    variables: dict[str, Any],
    persona: str,
    *,
    timezone: str,
    speed: float,
    hooks: CallHooks | None = None,
    rng_seed: Any = 0,
    ringing_timeout: float = RINGING_TIMEOUT,
) -> SimulatedCall:
    """Ring the simulated callee and, if they answer, let them talk to the skillbase's agent.

    Simulated time passes at ``speed`` (1 = real time, 0.01 = a hundred times faster, 0 = no
    waiting at all); durations are reported in simulated seconds.
    """
    if persona not in PERSONAS:
        raise ValueError(f"Unknown persona '{persona}'. Personas: {', '.join(PERSONAS)}.")
    rng = _rng("call", rng_seed, persona)
    clock = SimulatedClock(speed)
    ring = _ring_seconds(persona, rng, ringing_timeout)
    await clock.wait(ring)
    if persona in UNANSWERED:
        return SimulatedCall(persona, UNANSWERED[persona], answered=False, ring_seconds=ring, slept_seconds=clock.slept)
    if hooks is not None:
        await hooks.event("answered", data={"persona": persona, "ring_seconds": ring})
    playout = SimulatedPlayout(clock)
    talk = TextConversation(
        config, variables, timezone=timezone, hooks=hooks,
        tts=playout.tts, audio_output=playout.audio_output, transcription_output=playout.text_output,
    )  # fmt: skip
    callee = Callee(persona, talk.conversation, rng)
    playout.listener = lambda playback: callee.hears(talk.session, playback)
    try:
        async with talk:
            await _converse(talk, callee, clock, guard=_guard_seconds(config, speed))
            transcript = _transcript(talk)
    finally:
        await playout.aclose()
    state = talk.state
    outcome = state.outcome if state.ended or state.outcome else Outcome.FAILED
    return SimulatedCall(
        persona, outcome, answered=True, ring_seconds=ring, talk_seconds=round(clock.simulated - ring, 2),
        transcript=transcript, state=state, slept_seconds=clock.slept,
    )  # fmt: skip


def _guard_seconds(config: SkillbaseConfig, speed: float) -> float:
    """Real seconds after which a conversation is abandoned: a stuck session must not stall a dialer."""
    return 60 + 3 * config.flow.limits.max_duration_seconds * speed


async def _converse(talk: TextConversation, callee: Callee, clock: SimulatedClock, *, guard: float) -> None:
    flow = talk.conversation.config.flow
    # The engine gives up after max_turns (and a few reprompts); the callee never outlasts it.
    turns = flow.limits.max_turns + flow.fallback.retries + 1
    try:
        async with asyncio.timeout(guard):
            for _turn in range(turns):
                if talk.ended:
                    return
                text = callee.reply()
                await clock.wait(speaking_seconds(text) if text else flow.limits.silence_timeout_seconds)
                await talk.send(text)
    except TimeoutError:
        logger.warning("A simulated %s call did not finish within %.0f s; abandoning it.", callee.persona, guard)


def _transcript(talk: TextConversation) -> list[TranscriptLine]:
    return [
        TranscriptLine(item.role, item.text_content or "", bool(item.interrupted))
        for item in talk.session.history.items
        if item.type == "message" and item.role in ("user", "assistant")
    ]
