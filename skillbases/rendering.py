"""A skillbase's templates filled with a contact's values: what the bot says, and what an import
previews before a single number is dialled. The flow engine and the import's mapping step use the
same functions, so the preview is the call."""

from __future__ import annotations

import re
import string
from typing import Any

from skillbases.schemas import SkillbaseConfig, template_variables

_GAPS = re.compile(r"\s+([,.!?])")
_EMPTY_CLAUSE = re.compile(r",\s*([.!?])")
_GAPS = re.compile(r"\s+([,.!?])")
_EMPTY_CLAUSE = re.compile(r",\s*([.!?])")


# Words left dangling when the variable after them is empty: «на {service}», "with {doctor}".
_DANGLING = re.compile(
    r"(?:\s|^)(?:на|в|во|к|ко|с|со|по|о|об|обо|у|для|за|из|от|до|про|при|"
    r"on|at|with|for|to|in|of|about|the|a|an|your|by|from)\s*$",
    re.IGNORECASE,
)


def render(template: str, variables: dict[str, Any], fallbacks: dict[str, str] | None = None) -> str:
    """The template with its ``{variables}``. An empty one is said as its fallback phrase, or left out
    together with the preposition before it and any stray punctuation: never «на. Записать вас?»."""
    if not template:
        return ""
    fallbacks = fallbacks or {}
    pieces: list[str] = []
    for literal, name, _spec, _conversion in string.Formatter().parse(template):
        pieces.append(literal)
        if name is None:
            continue
        value = variables.get(name)
        text = "" if value is None else str(value).strip()
        if not text:
            text = fallbacks.get(name, "").strip()
        if not text:
            pieces[-1] = _DANGLING.sub("", pieces[-1])
        pieces.append(text)
    text = re.sub(r"(^\s*|[.!?]\s+)[,;:]\s*", r"\1", "".join(pieces))  # "{name}, hello" without a name
    text = _EMPTY_CLAUSE.sub(r"\1", _GAPS.sub(r"\1", text))
    text = re.sub(r"\s*—\s*([.!?])", r"\1", text)  # «хотим пригласить вас —.»
    return re.sub(r"\s{2,}", " ", text).strip()


# Filled from the skillbase or the call itself, never from a contact file.
_NOT_FROM_CONTACTS = frozenset({"company", "agent_name", "phone"})


def contact_values(config: SkillbaseConfig, variables: dict[str, Any]) -> dict[str, Any]:
    """What a call's templates are filled with: the skillbase's company and agent's name, then the
    contact's own non-empty values."""
    return {
        "company": config.context.company,
        "agent_name": config.context.agent_name,
        **{k: v for k, v in variables.items() if v not in (None, "")},
    }


def script_variables(config: SkillbaseConfig) -> list[str]:
    """The variables each contact should bring: those the flow declares, then every other one its
    templates and facts name, less what the call fills itself (company, agent, phone, collected
    fields). In the order an operator meets them: declared first, then by first use."""
    flow = config.flow
    collected = {c.field for step in flow.steps for c in step.collect}
    templates = [text for step in flow.steps for text in (step.say, step.instructions)]
    templates += [*config.context.facts, flow.fallback.reprompt, flow.voicemail.message, *flow.replies.model_dump().values()]
    names = list(flow.variables)
    for text in templates:
        names += template_variables(text)  # the config is valid: every template parses
    return [name for name in dict.fromkeys(names) if name not in collected and name not in _NOT_FROM_CONTACTS]


def greeting(config: SkillbaseConfig, variables: dict[str, Any]) -> str:
    """The first thing the bot says to a contact with these values."""
    start = config.step(config.flow.start)
    return render(start.say or start.instructions, contact_values(config, variables), config.flow.variable_fallbacks)
