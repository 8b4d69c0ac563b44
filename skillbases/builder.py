"""The flow builder: a skillbase's configuration as forms an operator fills in, not JSON.

The builder's inputs are plain named fields (``step-0-say``, ``step-0-t-1-goto``, ``intent-2-ru``...)
with a few blank rows to add to; ``build_sections`` turns a submitted builder into the same four
sections the JSON editor submits, so one validation (``validate_config``) checks both, and
``BuilderView`` lays a configuration out for the template, each problem beside the step, intent or
box its path names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _

from skillbases.outcomes import FLOW_OUTCOMES, Outcome
from skillbases.schemas import BUILTIN_INTENTS, BUILTIN_VARIABLES, COLLECT_TYPES, LLM_PROVIDERS, STT_PROVIDERS, TTS_PROVIDERS, WEEKDAYS

EXTRA_STEPS, EXTRA_TRANSITIONS, EXTRA_FIELDS, EXTRA_INTENTS = 1, 2, 1, 1
MAX_ROWS = 200  # of any list a submitted builder may hold
CONTEXT_TEXT = ("role", "company", "agent_name", "goal", "tone", "language", "timezone")
REPLIES = ("robot", "human", "human_booked", "wrong_person", "off_topic", "unknown_question", "closed", "past", "silence")
VOICE_TEXT = ("stt_provider", "stt_model", "tts_provider", "tts_model", "tts_voice", "language")
VOICE_NUMBERS = ("min_interruption_seconds", "min_endpointing_delay", "max_endpointing_delay")
LLM_FIELDS = ("model", "base_url", "temperature", "api_key_env")
_STEP_PATH = re.compile(r"^flow\.steps\[(\d+)\]")
_INTENT_PATH = re.compile(r"^flow\.intents\.([A-Za-z0-9_-]+)")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _number(text: str) -> Any:
    """A number when it reads as one; else the text, for the schema to name the problem."""
    text = (text or "").strip().replace(",", ".")
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _rows(data, prefix: str) -> list[int]:
    """The row numbers submitted under ``prefix-N-…``, in order."""
    pattern = re.compile(rf"^{re.escape(prefix)}-(\d+)-")
    found = {int(m.group(1)) for key in data for m in [pattern.match(key)] if m and int(m.group(1)) < MAX_ROWS}
    return sorted(found)


@dataclass
class Built:
    sections: dict[str, Any]
    step_rows: list[int]  # the form row of each built step, by its index in flow.steps


def build_sections(data) -> Built:
    """The four sections from a submitted builder (a QueryDict or a dict of strings)."""
    get = data.get
    context: dict[str, Any] = {name: get(f"ctx-{name}", "").strip() for name in CONTEXT_TEXT}
    context = {k: v for k, v in context.items() if v or k in ("role", "company", "goal")}
    context["facts"] = _lines(get("ctx-facts", ""))
    context["rules"] = _lines(get("ctx-rules", ""))
    hours = {day: [part.strip() for part in get(f"ctx-hours-{day}", "").split(",") if part.strip()] for day in WEEKDAYS}
    context["opening_hours"] = {day: spans for day, spans in hours.items() if spans}

    steps, step_rows = [], []
    for row in _rows(data, "step"):
        key = f"step-{row}"
        step_id = get(f"{key}-id", "").strip()
        if not step_id or get(f"{key}-delete"):
            continue
        step: dict[str, Any] = {"id": step_id, "say": get(f"{key}-say", "").strip()}
        if instructions := get(f"{key}-instructions", "").strip():
            step["instructions"] = instructions
        if get(f"{key}-end"):
            step["end"] = True
            step["outcome"] = get(f"{key}-outcome", "") or None
        else:
            transitions = []
            for t in _rows(data, f"{key}-t"):
                intent, goto = get(f"{key}-t-{t}-intent", "").strip(), get(f"{key}-t-{t}-goto", "").strip()
                if intent or goto:
                    transitions.append({"intent": intent, "goto": goto})
            step["transitions"] = transitions
        collect = []
        for c in _rows(data, f"{key}-c"):
            name = get(f"{key}-c-{c}-field", "").strip()
            if name:
                collect.append({"field": name, "type": get(f"{key}-c-{c}-type", "text"), "required": bool(get(f"{key}-c-{c}-required"))})
        if collect:
            step["collect"] = collect
        steps.append(step)
        step_rows.append(row)

    intents: dict[str, dict[str, list[str]]] = {}
    languages = [code.strip() for code in get("intent-languages", "").split(",") if code.strip()]
    for row in _rows(data, "intent"):
        name = get(f"intent-{row}-name", "").strip()
        if not name or get(f"intent-{row}-delete"):
            continue
        intents[name] = {lang: phrases for lang in languages if (phrases := _lines(get(f"intent-{row}-{lang}", "")))}

    flow: dict[str, Any] = {
        "start": get("flow-start", "").strip(),
        "variables": [name.strip() for name in get("flow-variables", "").replace("\n", ",").split(",") if name.strip()],
        "variable_fallbacks": dict(_pair(line) for line in _lines(get("flow-variable_fallbacks", ""))),
        "steps": steps,
        "intents": intents,
        "replies": {name: text for name in REPLIES if (text := get(f"reply-{name}", "").strip())},
        "fallback": {"reprompt": get("fallback-reprompt", "").strip(), "retries": _number(get("fallback-retries", "")),
                     "step": get("fallback-step", "").strip() or None},
        "voicemail": {"action": get("voicemail-action", "hang_up"), "message": get("voicemail-message", "").strip()},
        "limits": {name: _number(get(f"limits-{name}", "")) for name in ("max_turns", "max_duration_seconds", "silence_timeout_seconds")},
    }  # fmt: skip
    flow["fallback"] = {k: v for k, v in flow["fallback"].items() if v != ""}  # left empty: the schema's default
    flow["limits"] = {k: v for k, v in flow["limits"].items() if v != ""}

    voice: dict[str, Any] = {name: value for name in VOICE_TEXT if (value := get(f"voice-{name}", "").strip())}
    if "voice-tts_voice" in data:  # a provider's default voice is an empty one
        voice["tts_voice"] = get("voice-tts_voice", "").strip()
    voice.update({name: _number(value) for name in VOICE_NUMBERS if (value := get(f"voice-{name}", "").strip())})
    voice["allow_interruptions"] = bool(get("voice-allow_interruptions"))

    provider = get("llm-provider", "flow")
    llm: dict[str, Any] = {"provider": provider}
    if provider != "flow":  # the offline engine has no model, address or key: what is hidden is not sent
        llm.update({name: get(f"llm-{name}", "").strip() for name in LLM_FIELDS if f"llm-{name}" in data})
        if llm.get("temperature", None) == "":
            del llm["temperature"]
        elif "temperature" in llm:
            llm["temperature"] = _number(llm["temperature"])
    return Built({"context": context, "flow": flow, "voice": voice, "llm": llm}, step_rows)


def _pair(line: str) -> tuple[str, str]:
    name, _equals, value = line.partition("=")
    return name.strip(), value.strip()


@dataclass
class StepView:
    row: int
    id: str = ""
    say: str = ""
    instructions: str = ""
    end: bool = False
    outcome: str = ""
    transitions: list[tuple[int, str, str]] = field(default_factory=list)  # (row, intent, goto)
    collect: list[tuple[int, str, str, bool]] = field(default_factory=list)  # (row, field, type, required)
    errors: list[str] = field(default_factory=list)
    blank: bool = False


@dataclass
class IntentView:
    row: int
    name: str = ""
    phrases: list[tuple[str, str]] = field(default_factory=list)  # (language, one phrase per line)
    errors: list[str] = field(default_factory=list)
    blank: bool = False


class BuilderView:
    """A configuration (the four sections as dicts) laid out for the builder's template."""

    def __init__(self, sections: dict[str, Any], errors: list[str] = (), step_rows: list[int] | None = None):
        self.context = dict(sections.get("context") or {})
        self.flow = dict(sections.get("flow") or {})
        self.voice = dict(sections.get("voice") or {})
        self.llm = dict(sections.get("llm") or {})
        raw_steps = [s for s in self.flow.get("steps") or [] if isinstance(s, dict)]
        rows = step_rows if step_rows is not None and len(step_rows) == len(raw_steps) else list(range(len(raw_steps)))
        self.errors: dict[str, list[str]] = {"context": [], "flow": [], "voice": [], "llm": [], "other": []}
        self.steps = [self._step(row, raw) for row, raw in zip(rows, raw_steps, strict=True)]
        by_index = dict(enumerate(self.steps))
        next_row = max(rows, default=-1) + 1
        self.steps += [StepView(next_row + i, blank=True, transitions=self._blank_transitions([]), collect=self._blank_fields([]))
                       for i in range(EXTRA_STEPS)]  # fmt: skip
        intents = self.flow.get("intents") or {}
        language = str(self.context.get("language") or "en").split("-")[0]
        self.languages = list(dict.fromkeys([language, *(lang for phrases in intents.values() for lang in phrases), "ru", "en"]))[:4]
        self.intents = [
            IntentView(row, name, [(lang, "\n".join(phrases.get(lang, []))) for lang in self.languages])
            for row, (name, phrases) in enumerate(intents.items())
        ]
        self.intents += [IntentView(len(self.intents) + i, phrases=[(lang, "") for lang in self.languages], blank=True)
                         for i in range(EXTRA_INTENTS)]  # fmt: skip
        by_intent = {view.name: view for view in self.intents}
        for message in errors:
            if (match := _STEP_PATH.match(message)) and int(match.group(1)) in by_index:
                by_index[int(match.group(1))].errors.append(message)
            elif (match := _INTENT_PATH.match(message)) and match.group(1) in by_intent:
                by_intent[match.group(1)].errors.append(message)
            else:
                section = message.split(".")[0].split("[")[0].split(":")[0]
                self.errors[section if section in self.errors else "other"].append(message)

    def _step(self, row: int, raw: dict[str, Any]) -> StepView:
        transitions = [(t.get("intent", ""), t.get("goto", "")) for t in raw.get("transitions") or [] if isinstance(t, dict)]
        fields = [(c.get("field", ""), c.get("type", "text"), bool(c.get("required", True))) for c in raw.get("collect") or []
                  if isinstance(c, dict)]  # fmt: skip
        return StepView(
            row=row, id=str(raw.get("id", "")), say=str(raw.get("say", "")), instructions=str(raw.get("instructions", "")),
            end=bool(raw.get("end")), outcome=str(raw.get("outcome") or ""),
            transitions=self._blank_transitions(transitions), collect=self._blank_fields(fields),
        )  # fmt: skip

    @staticmethod
    def _blank_transitions(rows: list[tuple[str, str]]) -> list[tuple[int, str, str]]:
        return [(i, intent, goto) for i, (intent, goto) in enumerate([*rows, *[("", "")] * EXTRA_TRANSITIONS])]

    @staticmethod
    def _blank_fields(rows: list[tuple[str, str, bool]]) -> list[tuple[int, str, str, bool]]:
        return [(i, *row) for i, row in enumerate([*rows, *[("", "text", True)] * EXTRA_FIELDS])]

    # Choices

    @property
    def step_ids(self) -> list[str]:
        return [s.id for s in self.steps if s.id]

    @property
    def intent_names(self) -> list[str]:
        return list(dict.fromkeys([*(i.name for i in self.intents if i.name), *BUILTIN_INTENTS]))

    @property
    def variables(self) -> list[str]:
        """What a step's words may name: the built-ins, the declared ones, the collected fields."""
        collected = [c[1] for s in self.steps for c in s.collect if c[1]]
        return list(dict.fromkeys([*BUILTIN_VARIABLES, *self.flow.get("variables", []), *collected]))

    outcomes = [(value, label) for value, label in Outcome.choices if value in FLOW_OUTCOMES]
    collect_types = COLLECT_TYPES
    stt_providers, tts_providers, llm_providers = STT_PROVIDERS, TTS_PROVIDERS, LLM_PROVIDERS
    reply_names = [
        ("robot", _("“Are you a robot?”")), ("human", _("“A person, please”: the offer of a call back")),
        ("human_booked", _("…accepted: ends the call")), ("wrong_person", _("Wrong person: ends the call")),
        ("off_topic", _("Off topic")), ("unknown_question", _("A question the facts do not answer")),
        ("closed", _("A time outside the opening hours")), ("past", _("A time already gone")),
        ("silence", _("The last silence: ends the call")),
    ]  # fmt: skip
    weekdays = [("mon", _("Monday")), ("tue", _("Tuesday")), ("wed", _("Wednesday")), ("thu", _("Thursday")),
                ("fri", _("Friday")), ("sat", _("Saturday")), ("sun", _("Sunday"))]  # fmt: skip

    def hours(self) -> list[tuple[str, Any, str]]:
        week = self.context.get("opening_hours") or {}
        return [(day, label, ", ".join(week.get(day, []))) for day, label in self.weekdays]

    def replies(self) -> list[tuple[str, Any, str]]:
        given = self.flow.get("replies") or {}
        return [(name, label, given.get(name, "")) for name, label in self.reply_names]

    def fallbacks_text(self) -> str:
        return "\n".join(f"{k} = {v}" for k, v in (self.flow.get("variable_fallbacks") or {}).items())

    @property
    def facts_text(self) -> str:
        return "\n".join(self.context.get("facts") or [])

    @property
    def rules_text(self) -> str:
        return "\n".join(self.context.get("rules") or [])

    @property
    def variables_text(self) -> str:
        return ", ".join(self.flow.get("variables") or [])

    @property
    def languages_text(self) -> str:
        return ",".join(self.languages)
