"""Configuration problems as people read them: the JSON path of the value, and a plain sentence.

pydantic's own messages ("Input should be 'a', 'b'", internal location tags) are translated here
into sentences that name the allowed values or the nearest field name.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import BaseModel, ValidationError


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
            grouped.setdefault(section_of(issue.path), []).append(str(issue))
        return grouped


def section_of(path: str) -> str:
    return path.split(".")[0].split("[")[0]


def json_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


# The name patterns the schemas use, and what to tell someone whose value does not match.
IDENTIFIER = r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$"
WEB_ADDRESS = r"^(https?://\S+)?$"
ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"

# Parts pydantic adds to an error's location that are not keys of the document: validator and
# union tags such as 'function-after[_check(), str]', and '[key]' for a bad dictionary key.
_INTERNAL_LOC = re.compile(r"^(\[key\]|[a-z][a-z-]*\[.*\])$")
_PATTERN_HINTS = {
    IDENTIFIER: "is not a valid name: use 1-64 letters, digits, '_' or '-', without spaces.",
    WEB_ADDRESS: "is not a web address: start it with 'http://' or 'https://', or leave it empty.",
    ENV_NAME: "is not an environment variable name: use capital letters, digits and '_', like 'OPENAI_API_KEY'.",
}
_TYPE_MESSAGES = {
    "string_type": "This must be text.",
    "int_type": "This must be a whole number.",
    "int_parsing": "This must be a whole number.",
    "int_from_float": "This must be a whole number.",
    "float_type": "This must be a number.",
    "float_parsing": "This must be a number.",
    "bool_type": "This must be true or false.",
    "bool_parsing": "This must be true or false.",
    "list_type": "This must be a list, written in square brackets [...].",
    "dict_type": "This must be an object with named fields, written in curly braces {...}.",
    "model_type": "This must be an object with named fields, written in curly braces {...}.",
}
_BOUND_MESSAGES = {"ge": "at least", "gt": "more than", "le": "at most", "lt": "less than"}


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return f"'{text[:60]}…'" if len(text) > 60 else f"'{text}'"


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _fields_at(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names allowed at ``loc`` (a location inside ``root``), for typo hints."""
    model: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if model else None
        model = _model_in(field.annotation) if field else None
    return list(model.model_fields) if model else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for m in map(_model_in, get_args(annotation)) if m), None)


def _unknown_field(root: type[BaseModel], loc: tuple[Any, ...]) -> str:
    name, allowed = str(loc[-1]), _fields_at(root, loc[:-1])
    guess = difflib.get_close_matches(name, allowed, n=1)
    if guess:
        return f"Unknown field '{name}' (did you mean '{guess[0]}'?)."
    return f"Unknown field '{name}'. Allowed fields here: {', '.join(allowed)}." if allowed else f"Unknown field '{name}'."


def _plain_message(error: dict[str, Any], root: type[BaseModel]) -> str:
    """pydantic's message rewritten for someone who edits the config, not the code."""
    kind, ctx, loc = error["type"], error.get("ctx") or {}, error["loc"]
    if kind == "missing":
        return f"'{loc[-1]}' is required."
    if kind == "extra_forbidden":
        return _unknown_field(root, loc)
    if kind == "literal_error":
        return f"{_shown(error['input'])} is not allowed here. Choose one of: {ctx['expected']}."
    if kind == "string_pattern_mismatch" and ctx.get("pattern") in _PATTERN_HINTS:
        return f"{_shown(error['input'])} {_PATTERN_HINTS[ctx['pattern']]}"
    if kind == "string_too_short":
        return "This must not be empty." if ctx.get("min_length") == 1 else f"Use at least {ctx['min_length']} characters."
    if kind == "string_too_long":
        return f"This is too long: at most {ctx['max_length']} characters."
    if kind == "too_short":
        return f"This list needs at least {ctx['min_length']} {'item' if ctx['min_length'] == 1 else 'items'}."
    if kind == "too_long":
        return f"This list is too long: at most {ctx['max_length']} items."
    for bound, words in _BOUND_MESSAGES.items():
        if bound in ctx and kind.endswith(("than", "than_equal")):
            return f"This must be {words} {_number(ctx[bound])}, not {_number(error['input'])}."
    if kind in _TYPE_MESSAGES:
        return _TYPE_MESSAGES[kind]
    return error["msg"].removeprefix("Value error, ")


def issues_from_pydantic(exc: ValidationError, root: type[BaseModel]) -> list[ConfigIssue]:
    """Each pydantic error as a ConfigIssue: the JSON path of the value and a plain sentence."""
    issues = []
    for error in exc.errors():
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and _INTERNAL_LOC.match(p)))
        issues.append(ConfigIssue(json_path(loc), _plain_message(error, root)))
    return issues
