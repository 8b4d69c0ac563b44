"""The skillbase configuration: what the bot is, what it says, how it sounds, which LLM drives it.

Every write path (admin, API, JSON import, seed) calls ``validate_config``. Structure is checked by
pydantic; the flow's intents, graph and templates are checked after it, even when another section is
broken, so one pass reports every independent problem. Each problem comes back as a ``ConfigIssue``
with the JSON path of the offending value, e.g. ``flow.steps[2].transitions[0].goto``, and a sentence
meant for whoever edits the config, not for a programmer.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import string
import zoneinfo
from collections import deque
from collections.abc import Iterable
from functools import lru_cache
from typing import Annotated, Any, Literal

from django.conf.locale import LANG_INFO
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from skillbases import provider_rules
from skillbases.config_errors import ENV_NAME as _ENV_NAME
from skillbases.config_errors import IDENTIFIER as _IDENTIFIER
from skillbases.config_errors import WEB_ADDRESS as _WEB_ADDRESS
from skillbases.config_errors import ConfigError, ConfigIssue, issues_from_pydantic, section_of
from skillbases.outcomes import FLOW_OUTCOMES

# Intents the flow engine recognises without the skillbase defining them (it may extend them).
BUILTIN_INTENTS = ("collected", "opt_out", "callback", "silence", "yes", "no", "robot", "human", "wrong_person", "repeat")
# Variables every template may use besides the flow's declared ones and collected fields.
BUILTIN_VARIABLES = ("name", "phone", "company", "agent_name")
COLLECT_TYPES = ("text", "datetime", "date", "time", "number", "phone", "email", "yes_no")
STT_PROVIDERS = ("openai", "deepgram", "cartesia", "elevenlabs", "local")  # local: recognition on this machine, no key
TTS_PROVIDERS = ("openai", "deepgram", "cartesia", "elevenlabs", "local")  # local: voices on this machine, no key
LLM_PROVIDERS = ("flow", "openai")

# BCP-47 as used by speech providers: language, optional script, optional region.
_LANGUAGE_TAG = re.compile(r"^(?P<lang>[a-z]{2,3})(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$")


_LANGUAGE_NAMES = {info["name"].lower(): code for code, info in LANG_INFO.items() if "-" not in code and "name" in info}


def check_zone(value: str) -> str:
    """An IANA time zone name, or empty (the caller's default)."""
    if value and value not in _zones():
        raise ValueError(f"'{value}' is not a time zone; use a name like 'Europe/Moscow' or 'America/New_York'.")
    return value


def check_language(value: str) -> str:
    match = _LANGUAGE_TAG.match(value)
    if match and match["lang"] in LANG_INFO:
        return value
    if match:
        problem = f"'{value}' is not a known language code: there is no language '{match['lang']}'."
    else:
        problem = f"'{value}' is not a language code."
    hint = _language_hint(value)
    raise ValueError(f"{problem} Use a code like 'ru-RU' or 'en-US'" + (f" (did you mean '{hint}'?)." if hint else "."))


def _language_hint(value: str) -> str | None:
    """The code someone probably meant by 'Russian', 'ru_RU' or 'ru-ru'."""
    if value.strip().lower() in _LANGUAGE_NAMES:
        return _LANGUAGE_NAMES[value.strip().lower()]
    lang, _, region = value.strip().replace("_", "-").partition("-")
    candidate = f"{lang.lower()}-{region.upper()}" if region else lang.lower()
    match = _LANGUAGE_TAG.match(candidate)
    return candidate if match and match["lang"] in LANG_INFO and candidate != value else None


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


LanguageTag = Annotated[str, Field(max_length=35)]
Identifier = Annotated[str, Field(pattern=_IDENTIFIER)]
NonEmpty = Annotated[str, Field(min_length=1, max_length=2000)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$")


def parse_hours(value: str) -> tuple[dt.time, dt.time | None]:
    """ "09:00-21:00" as (opening, closing); closing None means midnight ("24:00"). ValueError says why not."""
    match = _HOURS.match(value.strip())
    if not match:
        raise ValueError(f"'{value}' is not opening hours; write them like '09:00-21:00'.")
    times = []
    for part in (match["start"], match["end"]):
        hour, minute = (int(x) for x in part.split(":"))
        if (hour, minute) == (24, 0) and part is match["end"]:
            times.append(None)
        elif hour > 23 or minute > 59:
            raise ValueError(f"'{part}' in '{value}' is not a time of day.")
        else:
            times.append(dt.time(hour, minute))
    opening, closing = times
    if closing is not None and closing <= opening:
        raise ValueError(f"'{value}' closes before it opens; hours past midnight are two intervals, e.g. '20:00-24:00' and '00:00-02:00'.")
    return opening, closing


def _check_week(week: dict[str, list[str]]) -> dict[str, list[str]]:
    problems = []
    for day, intervals in week.items():
        spans = []
        for text in intervals:
            try:
                opening, closing = parse_hours(text)
            except ValueError as exc:
                problems.append(f"{day}: {exc}")
                continue
            spans.append((opening, closing or dt.time.max, text))
        spans.sort()
        for (_a, end, first), (start, _b, second) in zip(spans, spans[1:], strict=False):
            if start < end:
                problems.append(f"{day}: '{first}' and '{second}' overlap.")
    if problems:
        raise ValueError(" ".join(problems))
    return week


class ContextConfig(_Section):
    """Who the bot is and what it wants: becomes the agent's instructions."""

    role: NonEmpty
    company: NonEmpty
    agent_name: str = Field(default="", max_length=100)
    goal: NonEmpty
    tone: str = Field(default="friendly and brief", max_length=500)
    language: LanguageTag = "en-US"
    facts: list[NonEmpty] = Field(default_factory=list, max_length=100)
    rules: list[NonEmpty] = Field(default_factory=list, max_length=100)
    # Where the business is, for its opening hours ('' reads them in the callee's zone).
    timezone: str = Field(default="", max_length=64)
    # When the business can receive people, per weekday: {"mon": ["09:00-21:00"], ...}; a day left
    # out (or with no intervals) is closed. Empty: times collected for a visit are not checked.
    opening_hours: dict[Literal[WEEKDAYS], list[str]] = Field(default_factory=dict)  # type: ignore[valid-type]

    _check_language = field_validator("language")(check_language)

    _check_zone = field_validator("timezone")(check_zone)

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return _check_week(value)


class Transition(_Section):
    intent: Identifier
    goto: Identifier


class CollectField(_Section):
    field: Identifier
    type: Literal[COLLECT_TYPES] = "text"  # type: ignore[valid-type]
    required: bool = True
    # A moment that must fall within the context's opening hours (a visit). Unset: yes for datetime
    # and time fields, except the callback time (callback_at), which the calling window governs.
    within_hours: bool | None = None

    @property
    def checks_hours(self) -> bool:
        if self.within_hours is not None:
            return self.within_hours and self.type in ("datetime", "time")
        return self.type in ("datetime", "time") and self.field != "callback_at"


class Step(_Section):
    id: Identifier
    say: str = Field(default="", max_length=2000)
    instructions: str = Field(default="", max_length=4000)
    transitions: list[Transition] = Field(default_factory=list, max_length=50)
    collect: list[CollectField] = Field(default_factory=list, max_length=20)
    end: bool = False
    outcome: Literal[FLOW_OUTCOMES] | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _terminal_rules(self) -> Step:
        # One message naming every broken rule, so a step is fixed in one pass.
        problems = []
        if not self.say and not self.instructions:
            problems.append("needs 'say' (what the bot says) or 'instructions' (what the bot should do).")
        if self.end and self.outcome is None:
            problems.append(f"ends the call ('end': true), so it needs an 'outcome', one of: {', '.join(FLOW_OUTCOMES)}.")
        if not self.end and self.outcome is not None:
            problems.append("has an 'outcome' but is not an end step; add \"end\": true or remove the outcome.")
        if self.end and self.transitions:
            problems.append("ends the call ('end': true), so it cannot have transitions.")
        if not self.end and not self.transitions:
            problems.append("does not end the call, so it needs at least one transition (or \"end\": true and an 'outcome').")
        if problems:
            raise ValueError(" ".join(f"Step '{self.id}' {problem}" for problem in problems))
        return self


class Fallback(_Section):
    # Empty: "say that again" in the built-in words of the bot's language.
    reprompt: str = Field(default="", max_length=2000)
    retries: int = Field(default=2, ge=0, le=5)
    step: Identifier | None = None


class Voicemail(_Section):
    action: Literal["leave_message", "hang_up"] = "hang_up"
    # validate_default: the check below must also run when 'message' is left out.
    message: str = Field(default="", max_length=2000, validate_default=True)

    @field_validator("message")
    @classmethod
    def _message_when_leaving(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("action") == "leave_message" and not value:
            raise ValueError("To leave a voicemail ('action': 'leave_message'), write the 'message' the bot should leave.")
        return value


class Limits(_Section):
    max_turns: int = Field(default=20, ge=1, le=200)
    max_duration_seconds: int = Field(default=300, ge=10, le=3600)
    silence_timeout_seconds: float = Field(default=8.0, ge=1, le=60)


class Replies(_Section):
    """What the bot says off script; each left empty is said in the built-in words of the bot's language.
    Templates, like a step's ``say``; the step's question is asked again after each that continues."""

    robot: str = Field(default="", max_length=500)  # "are you a robot?": the honest answer
    human: str = Field(default="", max_length=500)  # "a person, please": offer a person's call back
    human_booked: str = Field(default="", max_length=500)  # ...accepted: ends the call
    wrong_person: str = Field(default="", max_length=500)  # ends the call
    off_topic: str = Field(default="", max_length=500)
    unknown_question: str = Field(default="", max_length=500)  # a question the facts do not answer
    closed: str = Field(default="", max_length=500)  # a time outside the opening hours
    past: str = Field(default="", max_length=500)  # a time already gone
    silence: str = Field(default="", max_length=500)  # the last silence: ends the call (no_response)


class FlowConfig(_Section):
    """The script: steps, what moves between them, and what to do when nothing matches."""

    start: Identifier
    variables: list[Identifier] = Field(default_factory=list, max_length=50)
    # What to say instead of a variable the contact has no value for ("service": "одну из наших
    # процедур"); without one the variable is left out with the preposition before it.
    variable_fallbacks: dict[Identifier, Annotated[str, Field(max_length=200)]] = Field(default_factory=dict)
    replies: Replies = Field(default_factory=Replies)
    steps: list[Step] = Field(min_length=1, max_length=200)
    intents: dict[Identifier, dict[str, list[NonEmpty]]] = Field(default_factory=dict)
    fallback: Fallback = Field(default_factory=Fallback)
    voicemail: Voicemail = Field(default_factory=Voicemail)
    limits: Limits = Field(default_factory=Limits)

    def known_variables(self) -> set[str]:
        collected = {c.field for s in self.steps for c in s.collect}
        return set(BUILTIN_VARIABLES) | set(self.variables) | collected


class VoiceConfig(_Section):
    """Speech in and out. Keys come from the environment (see README), never from here."""

    stt_provider: Literal[STT_PROVIDERS] = "openai"  # type: ignore[valid-type]
    stt_model: NonEmpty = "gpt-4o-mini-transcribe"
    tts_provider: Literal[TTS_PROVIDERS] = "openai"  # type: ignore[valid-type]
    tts_model: NonEmpty = "gpt-4o-mini-tts"
    tts_voice: str = Field(default="alloy", max_length=200)
    language: LanguageTag | None = None
    allow_interruptions: bool = True
    min_interruption_seconds: float = Field(default=0.5, ge=0, le=5)
    min_endpointing_delay: float = Field(default=0.5, ge=0, le=10)
    max_endpointing_delay: float = Field(default=3.0, ge=0, le=30, validate_default=True)

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        return None if value is None else check_language(value)

    @field_validator("max_endpointing_delay")
    @classmethod
    def _endpointing_order(cls, value: float, info: ValidationInfo) -> float:
        minimum = info.data.get("min_endpointing_delay")
        if minimum is not None and value < minimum:
            raise ValueError(f"'max_endpointing_delay' ({value:g}) must not be less than 'min_endpointing_delay' ({minimum:g}).")
        return value


class LLMConfig(_Section):
    """``flow`` walks the script offline and deterministically; ``openai`` is any
    OpenAI-compatible endpoint (``base_url``), its key read from the env var ``api_key_env``."""

    provider: Literal[LLM_PROVIDERS] = "flow"  # type: ignore[valid-type]
    model: str = Field(default="gpt-4o-mini", max_length=200, validate_default=True)
    base_url: str = Field(default="", max_length=500, pattern=_WEB_ADDRESS)
    temperature: float = Field(default=0.3, ge=0, le=2)
    api_key_env: str = Field(default="OPENAI_API_KEY", pattern=_ENV_NAME, max_length=100)

    @field_validator("api_key_env")
    @classmethod
    def _allowed_key(cls, value: str) -> str:
        if problem := provider_rules.key_env_problem(value):
            raise ValueError(problem)
        return value

    @field_validator("base_url")
    @classmethod
    def _allowed_address(cls, value: str) -> str:
        if problem := provider_rules.url_problem(value):
            raise ValueError(problem)
        return value

    @field_validator("model")
    @classmethod
    def _model_for_remote(cls, value: str, info: ValidationInfo) -> str:
        provider = info.data.get("provider")
        if provider not in (None, "flow") and not value:
            raise ValueError(f"Provider '{provider}' needs a 'model', e.g. 'gpt-4o-mini'.")
        return value


class SkillbaseConfig(_Section):
    context: ContextConfig
    flow: FlowConfig
    voice: VoiceConfig = Field(default_factory=VoiceConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)

    @property
    def language(self) -> str:
        return self.voice.language or self.context.language

    def step(self, step_id: str) -> Step:
        return next(s for s in self.flow.steps if s.id == step_id)

    def known_variables(self) -> set[str]:
        return self.flow.known_variables()


def template_variables(template: str) -> list[str]:
    """Names used as ``{name}`` in a template; ValueError on a malformed template."""
    names = []
    for _literal, field, spec, conversion in string.Formatter().parse(template):
        if field is not None:
            if spec or conversion:
                raise ValueError(f"write variables plainly, like '{{{field}}}', without '!' or ':' after the name")
            names.append(field)
    return names


def _template_problem(exc: ValueError) -> str:
    reason = str(exc)
    if reason.startswith("Single '}'"):
        reason = "there is a '}' without a matching '{'"
    elif reason.startswith(("Single '{'", "expected '}'", "unmatched '{'")):
        reason = "there is a '{' that is not closed with '}'"
    return f"Broken template: {reason}. To show a brace as text, write it twice: '{{{{' or '}}}}'."


def _check_templates(flow: FlowConfig) -> list[ConfigIssue]:
    known = flow.known_variables()
    templates = [(f"flow.steps[{i}].say", s.say) for i, s in enumerate(flow.steps)]
    templates += [(f"flow.steps[{i}].instructions", s.instructions) for i, s in enumerate(flow.steps)]
    templates += [("flow.fallback.reprompt", flow.fallback.reprompt), ("flow.voicemail.message", flow.voicemail.message)]
    templates += [(f"flow.replies.{name}", text) for name, text in flow.replies.model_dump().items()]
    templates += [(f"flow.variable_fallbacks.{name}", text) for name, text in flow.variable_fallbacks.items()]
    issues = [
        ConfigIssue(f"flow.variable_fallbacks.{name}", _unknown_variable(name, known))
        for name in flow.variable_fallbacks
        if name not in known
    ]
    for path, text in templates:
        try:
            names = template_variables(text)
        except ValueError as exc:
            issues.append(ConfigIssue(path, _template_problem(exc)))
            continue
        for name in dict.fromkeys(names):
            if name not in known:
                issues.append(ConfigIssue(path, _unknown_variable(name, known)))
    return issues


def _unknown_variable(name: str, known: set[str]) -> str:
    choices = _listing(sorted(known), limit=30)
    if not name:
        return f"Empty braces '{{}}': put a variable name inside, like '{{name}}'. Known variables: {choices}."
    guess = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean '{{{guess[0]}}}'?)" if guess else ""
    return f"Unknown variable '{{{name}}}'{hint}. Known variables: {choices}; declare others in flow.variables."


def _check_intents(flow: FlowConfig) -> list[ConfigIssue]:
    issues = []
    for name, phrases in flow.intents.items():
        if not any(phrases.values()):
            issues.append(
                ConfigIssue(f"flow.intents.{name}", f'Intent \'{name}\' has no phrases: add at least one, e.g. {{"en": ["yes"]}}.')
            )
        for language in phrases:
            try:
                check_language(language)
            except ValueError as exc:
                issues.append(ConfigIssue(f"flow.intents.{name}.{language}", str(exc)))
    return issues


def _check_graph(flow: FlowConfig) -> list[ConfigIssue]:
    issues = []
    index: dict[str, int] = {}
    for i, step in enumerate(flow.steps):
        if step.id in index:
            issues.append(ConfigIssue(f"flow.steps[{i}].id", f"Duplicate step id '{step.id}': flow.steps[{index[step.id]}] has it too."))
        else:
            index[step.id] = i
    if flow.start not in index:
        issues.append(ConfigIssue("flow.start", f"The start step '{flow.start}' is not one of the steps ({_listing(index)})."))
    if flow.fallback.step is not None and flow.fallback.step not in index:
        issues.append(ConfigIssue("flow.fallback.step", f"There is no step '{flow.fallback.step}'."))
    for i, step in enumerate(flow.steps):
        for j, transition in enumerate(step.transitions):
            if transition.goto not in index:
                issues.append(ConfigIssue(f"flow.steps[{i}].transitions[{j}].goto", f"There is no step '{transition.goto}' to go to."))
    # Reachability is only meaningful once every step reference resolves to exactly one step.
    references_resolve = not issues
    issues += _check_step_details(flow)
    return issues + _check_reachability(flow, index) if references_resolve else issues


def _listing(names: Iterable[str], limit: int = 10) -> str:
    names = list(names)
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _check_step_details(flow: FlowConfig) -> list[ConfigIssue]:
    issues = []
    known_intents = set(flow.intents) | set(BUILTIN_INTENTS)
    for i, step in enumerate(flow.steps):
        for j, transition in enumerate(step.transitions):
            if transition.intent not in known_intents:
                issues.append(
                    ConfigIssue(
                        f"flow.steps[{i}].transitions[{j}].intent",
                        f"Intent '{transition.intent}' is not defined: add it to flow.intents "
                        f"or use a built-in intent ({', '.join(BUILTIN_INTENTS)}).",
                    )
                )
        if any(t.intent == "collected" for t in step.transitions) and not step.collect:
            issues.append(ConfigIssue(f"flow.steps[{i}].transitions", "The 'collected' intent needs fields in 'collect'."))
        for k, collected in enumerate(step.collect):
            if collected.field in BUILTIN_VARIABLES:
                issues.append(
                    ConfigIssue(
                        f"flow.steps[{i}].collect[{k}].field", f"'{collected.field}' is a built-in variable; choose another field name."
                    )
                )
    return issues


def _edges(flow: FlowConfig, step: Step) -> set[str]:
    targets = {t.goto for t in step.transitions}
    if not step.end and flow.fallback.step:
        targets.add(flow.fallback.step)
    return targets


def _check_reachability(flow: FlowConfig, index: dict[str, int]) -> list[ConfigIssue]:
    by_id = {s.id: s for s in flow.steps}
    reached = {flow.start}
    queue = deque([flow.start])
    while queue:
        for target in _edges(flow, by_id[queue.popleft()]):
            if target not in reached:
                reached.add(target)
                queue.append(target)
    issues = [
        ConfigIssue(
            f"flow.steps[{index[s.id]}]",
            f"Step '{s.id}' can never be reached: no transition leads to it from the start step '{flow.start}'.",
        )
        for s in flow.steps
        if s.id not in reached
    ]
    if not any(by_id[s].end for s in reached):
        issues.append(
            ConfigIssue("flow.steps", f"No end step can be reached from the start step '{flow.start}', so a call could never finish.")
        )
        return issues
    # Every reachable step must be able to finish the call, or a conversation could loop forever.
    finishing = {s.id for s in flow.steps if s.end}
    changed = True
    while changed:
        changed = False
        for s in flow.steps:
            if s.id not in finishing and _edges(flow, s) & finishing:
                finishing.add(s.id)
                changed = True
    for step_id in sorted(reached - finishing, key=index.get):
        issues.append(
            ConfigIssue(
                f"flow.steps[{index[step_id]}]", f"No end step can be reached from step '{step_id}', so a call there could never finish."
            )
        )
    return issues


def _check_flow(flow: FlowConfig) -> list[ConfigIssue]:
    return _check_intents(flow) + _check_graph(flow) + _check_templates(flow)


SECTIONS = ("context", "flow", "voice", "llm")


def validate_config(data: dict[str, Any]) -> SkillbaseConfig:
    """The typed config, or ConfigError listing every problem with its JSON path."""
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue("", "The configuration must be a JSON object with the sections context, flow, voice and llm.")])
    try:
        config = SkillbaseConfig.model_validate(data)
    except ValidationError as exc:
        issues = issues_from_pydantic(exc, SkillbaseConfig)
        # A mistake in another section must not hide the flow's own problems: check it alone.
        if "flow" not in {section_of(i.path) for i in issues}:
            issues += _check_flow(FlowConfig.model_validate(data["flow"]))
        raise ConfigError(issues) from None
    issues = _check_flow(config.flow) + _check_facts(config)
    if issues:
        raise ConfigError(issues)
    return config


def _check_facts(config: SkillbaseConfig) -> list[ConfigIssue]:
    """Facts may name the contact's variables ("Your appointment is on {appointment_time}")."""
    known = config.flow.known_variables()
    issues = []
    for i, fact in enumerate(config.context.facts):
        path = f"context.facts[{i}]"
        try:
            names = template_variables(fact)
        except ValueError as exc:
            issues.append(ConfigIssue(path, _template_problem(exc)))
            continue
        issues += [ConfigIssue(path, _unknown_variable(name, known)) for name in dict.fromkeys(names) if name not in known]
    return issues
