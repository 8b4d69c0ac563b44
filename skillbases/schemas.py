"""The skillbase configuration: what the bot is, what it says, how it sounds, which LLM drives it.

Every write path (admin, API, JSON import, seed) calls ``validate_config``. Structure is checked by
pydantic; the flow's graph and templates are checked after it. Each problem comes back as a
``ConfigIssue`` with the JSON path of the offending value, e.g. ``flow.steps[2].transitions[0].goto``.
"""

from __future__ import annotations

import re
import string
from collections import deque
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from django.conf.locale import LANG_INFO
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# Outcomes a flow's end step may report. The campaign engine's call outcomes are a superset.
FLOW_OUTCOMES = ("success", "refusal", "callback_requested", "opted_out", "voicemail", "failed")
# Intents the flow engine recognises without the skillbase defining them (it may extend them).
BUILTIN_INTENTS = ("collected", "opt_out", "callback", "silence")
# Variables every template may use besides the flow's declared ones and collected fields.
BUILTIN_VARIABLES = ("name", "phone", "company", "agent_name")
COLLECT_TYPES = ("text", "datetime", "date", "time", "number", "phone", "email", "yes_no")
STT_PROVIDERS = ("openai", "deepgram", "cartesia", "elevenlabs")
TTS_PROVIDERS = ("openai", "deepgram", "cartesia", "elevenlabs")
LLM_PROVIDERS = ("flow", "openai")

# BCP-47 as used by speech providers: language, optional script, optional region.
_LANGUAGE_TAG = re.compile(r"^(?P<lang>[a-z]{2,3})(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$")
_IDENTIFIER = r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$"


def check_language(value: str) -> str:
    match = _LANGUAGE_TAG.match(value)
    if not match or match["lang"] not in LANG_INFO:
        raise ValueError(f"'{value}' is not a language code like 'ru-RU' or 'en-US'.")
    return value


LanguageTag = Annotated[str, Field(max_length=35)]
Identifier = Annotated[str, Field(pattern=_IDENTIFIER)]
NonEmpty = Annotated[str, Field(min_length=1, max_length=2000)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


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

    _check_language = field_validator("language")(check_language)


class Transition(_Section):
    intent: Identifier
    goto: Identifier


class CollectField(_Section):
    field: Identifier
    type: Literal[COLLECT_TYPES] = "text"  # type: ignore[valid-type]
    required: bool = True


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
        if not self.say and not self.instructions:
            raise ValueError("A step needs 'say' or 'instructions'.")
        if self.end and self.outcome is None:
            raise ValueError("An end step needs an 'outcome'.")
        if not self.end and self.outcome is not None:
            raise ValueError("Only an end step ('end': true) may have an 'outcome'.")
        if self.end and self.transitions:
            raise ValueError("An end step cannot have transitions.")
        if not self.end and not self.transitions:
            raise ValueError("A step that is not an end step needs at least one transition.")
        return self


class Fallback(_Section):
    reprompt: NonEmpty = "Sorry, I didn't catch that. Could you say it again?"
    retries: int = Field(default=2, ge=0, le=5)
    step: Identifier | None = None


class Voicemail(_Section):
    action: Literal["leave_message", "hang_up"] = "hang_up"
    message: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _message_when_leaving(self) -> Voicemail:
        if self.action == "leave_message" and not self.message:
            raise ValueError("'leave_message' needs a 'message'.")
        return self


class Limits(_Section):
    max_turns: int = Field(default=20, ge=1, le=200)
    max_duration_seconds: int = Field(default=300, ge=10, le=3600)
    silence_timeout_seconds: float = Field(default=8.0, ge=1, le=60)


class FlowConfig(_Section):
    """The script: steps, what moves between them, and what to do when nothing matches."""

    start: Identifier
    variables: list[Identifier] = Field(default_factory=list, max_length=50)
    steps: list[Step] = Field(min_length=1, max_length=200)
    intents: dict[Identifier, dict[str, list[NonEmpty]]] = Field(default_factory=dict)
    fallback: Fallback = Field(default_factory=Fallback)
    voicemail: Voicemail = Field(default_factory=Voicemail)
    limits: Limits = Field(default_factory=Limits)


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
    max_endpointing_delay: float = Field(default=3.0, ge=0, le=30)

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        return None if value is None else check_language(value)

    @model_validator(mode="after")
    def _endpointing_order(self) -> VoiceConfig:
        if self.min_endpointing_delay > self.max_endpointing_delay:
            raise ValueError("'min_endpointing_delay' must not exceed 'max_endpointing_delay'.")
        return self


class LLMConfig(_Section):
    """``flow`` walks the script offline and deterministically; ``openai`` is any
    OpenAI-compatible endpoint (``base_url``), its key read from the env var ``api_key_env``."""

    provider: Literal[LLM_PROVIDERS] = "flow"  # type: ignore[valid-type]
    model: str = Field(default="gpt-4o-mini", max_length=200)
    base_url: str = Field(default="", max_length=500, pattern=r"^(https?://\S+)?$")
    temperature: float = Field(default=0.3, ge=0, le=2)
    api_key_env: str = Field(default="OPENAI_API_KEY", pattern=r"^[A-Z_][A-Z0-9_]*$", max_length=100)

    @model_validator(mode="after")
    def _model_for_remote(self) -> LLMConfig:
        if self.provider != "flow" and not self.model:
            raise ValueError(f"Provider '{self.provider}' needs a 'model'.")
        return self


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
        collected = {c.field for s in self.flow.steps for c in s.collect}
        return set(BUILTIN_VARIABLES) | set(self.flow.variables) | collected


@dataclass(frozen=True)
class ConfigIssue:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(ValueError):
    def __init__(self, issues: list[ConfigIssue]):
        self.issues = issues
        super().__init__("; ".join(str(i) for i in issues))

    def by_section(self) -> dict[str, list[str]]:
        """Messages grouped by top-level section (``context``, ``flow``, ...), paths kept."""
        grouped: dict[str, list[str]] = {}
        for issue in self.issues:
            grouped.setdefault(issue.path.split(".")[0].split("[")[0], []).append(str(issue))
        return grouped


def json_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _plain_message(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "This field is required."
    if kind == "extra_forbidden":
        return f"Unknown field '{error['loc'][-1]}'."
    if kind == "string_pattern_mismatch" and error["loc"][-1] in ("id", "goto", "start", "intent", "field", "step"):
        return "Use 1-64 letters, digits, '_' or '-'."
    message = error["msg"]
    return message.removeprefix("Value error, ")


def _from_pydantic(exc: ValidationError) -> list[ConfigIssue]:
    issues = []
    for error in exc.errors():
        # A failing model validator reports the model's own location; drop pydantic's
        # internal tags such as 'function-after[...]' so the path stays the JSON path.
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and "[" in p))
        issues.append(ConfigIssue(json_path(loc), _plain_message(error)))
    return issues


def template_variables(template: str) -> list[str]:
    """Names used as ``{name}`` in a template; ValueError on a malformed template."""
    names = []
    for _literal, field, _spec, _conversion in string.Formatter().parse(template):
        if field is not None:
            names.append(field)
    return names


def _check_templates(config: SkillbaseConfig) -> list[ConfigIssue]:
    known = config.known_variables()
    templates = [(f"flow.steps[{i}].say", s.say) for i, s in enumerate(config.flow.steps)]
    templates += [(f"flow.steps[{i}].instructions", s.instructions) for i, s in enumerate(config.flow.steps)]
    templates += [("flow.fallback.reprompt", config.flow.fallback.reprompt)]
    templates += [("flow.voicemail.message", config.flow.voicemail.message)]
    issues = []
    for path, text in templates:
        try:
            names = template_variables(text)
        except ValueError as exc:
            issues.append(ConfigIssue(path, f"Broken template: {exc}. Write '{{{{' for a literal brace."))
            continue
        for name in names:
            if name not in known:
                choices = ", ".join(sorted(known))
                issues.append(ConfigIssue(path, f"Unknown variable '{{{name}}}'. Known variables: {choices}."))
    return issues


def _check_intents(flow: FlowConfig) -> list[ConfigIssue]:
    issues = []
    for name, phrases in flow.intents.items():
        if not any(phrases.values()):
            issues.append(ConfigIssue(f"flow.intents.{name}", f"Intent '{name}' has no phrases."))
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
            issues.append(ConfigIssue(f"flow.steps[{i}].id", f"Duplicate step id '{step.id}' (also flow.steps[{index[step.id]}])."))
        else:
            index[step.id] = i
    if flow.start not in index:
        issues.append(ConfigIssue("flow.start", f"Start step '{flow.start}' is not one of the steps."))
    if flow.fallback.step is not None and flow.fallback.step not in index:
        issues.append(ConfigIssue("flow.fallback.step", f"Step '{flow.fallback.step}' does not exist."))
    known_intents = set(flow.intents) | set(BUILTIN_INTENTS)
    for i, step in enumerate(flow.steps):
        for j, transition in enumerate(step.transitions):
            if transition.goto not in index:
                issues.append(ConfigIssue(f"flow.steps[{i}].transitions[{j}].goto", f"Step '{transition.goto}' does not exist."))
            if transition.intent not in known_intents:
                issues.append(
                    ConfigIssue(
                        f"flow.steps[{i}].transitions[{j}].intent",
                        f"Intent '{transition.intent}' is not defined in flow.intents (built-in intents: {', '.join(BUILTIN_INTENTS)}).",
                    )
                )
        if any(t.intent == "collected" for t in step.transitions) and not step.collect:
            issues.append(ConfigIssue(f"flow.steps[{i}].transitions", "The 'collected' intent needs fields in 'collect'."))
        for name in step.collect:
            if name.field in BUILTIN_VARIABLES:
                issues.append(ConfigIssue(f"flow.steps[{i}].collect", f"'{name.field}' is a built-in variable; choose another field name."))
    if issues:
        return issues
    return _check_reachability(flow, index)


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
        ConfigIssue(f"flow.steps[{index[s.id]}]", f"Step '{s.id}' cannot be reached from the start step '{flow.start}'.")
        for s in flow.steps
        if s.id not in reached
    ]
    if not any(by_id[s].end for s in reached):
        issues.append(ConfigIssue("flow.steps", f"No end step can be reached from the start step '{flow.start}'."))
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
        issues.append(ConfigIssue(f"flow.steps[{index[step_id]}]", f"No end step can be reached from step '{step_id}'."))
    return issues


SECTIONS = ("context", "flow", "voice", "llm")


def validate_config(data: dict[str, Any]) -> SkillbaseConfig:
    """The typed config, or ConfigError listing every problem with its JSON path."""
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue("", "The configuration must be a JSON object.")])
    try:
        config = SkillbaseConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_from_pydantic(exc)) from None
    issues = _check_intents(config.flow) + _check_graph(config.flow)
    if not issues:
        issues = _check_templates(config)
    if issues:
        raise ConfigError(issues)
    return config
