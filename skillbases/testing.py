"""A skillbase's test conversations: what the callee says, and what must come of it.

A test is a list of callee lines (an empty line is the callee saying nothing), the contact's
variables, the time zone and moment the call happens at (so a "tomorrow at three" means the same
day on every run), and expectations: the outcome, the fields collected, the steps reached or
avoided, words the bot must or must never say. ``validate_test`` checks a test against the
skillbase's configuration (one validation for the admin, the API and the seeding);
``judge`` compares what a run produced with what was expected, as plain sentences. Running a
conversation is the agent's business (``settings.SKILLBASE_TEST_RUNNER``, in ``voiceagent``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from skillbases.config_errors import ConfigError, ConfigIssue, issues_from_pydantic
from skillbases.outcomes import FLOW_OUTCOMES
from skillbases.schemas import SkillbaseConfig, check_zone

MAX_LINES = 40
Phrase = Annotated[str, Field(min_length=1, max_length=200)]
# What a run is at: "2026-12-07 10:00" (or with a "T"), on the test's clock.
_MOMENT = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d$")


class Expectations(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    outcome: str = ""
    # Field → the value it must hold: "" for any value, else the stored value, its start
    # ("2026-12-08T15:00"), or the words the bot says it back with, case aside.
    collected: dict[Annotated[str, Field(min_length=1, max_length=64)], Annotated[str, Field(max_length=200)]] = Field(default_factory=dict)
    not_collected: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=50)
    reached: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=50)
    avoided: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=50)
    says: list[Phrase] = Field(default_factory=list, max_length=50)
    never_says: list[Phrase] = Field(default_factory=list, max_length=50)

    @field_validator("outcome")
    @classmethod
    def _known_outcome(cls, value: str) -> str:
        if value and value not in FLOW_OUTCOMES:
            raise ValueError(f"Unknown outcome '{value}'; a call the script ends has one of: {', '.join(FLOW_OUTCOMES)}.")
        return value

    def is_empty(self) -> bool:
        return not any(getattr(self, name) for name in type(self).model_fields)


class ConversationTest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, Field(min_length=1, max_length=200)]
    lines: list[Annotated[str, Field(max_length=500)]] = Field(min_length=1, max_length=MAX_LINES)
    variables: dict[Annotated[str, Field(min_length=1, max_length=64)], Annotated[str, Field(max_length=500)]] = Field(default_factory=dict)
    timezone: str = ""
    at: str = ""
    expect: Expectations = Field(default_factory=Expectations)

    _check_zone = field_validator("timezone")(check_zone)

    @field_validator("at")
    @classmethod
    def _moment(cls, value: str) -> str:
        if not value:
            return value
        if not _MOMENT.match(value):
            raise ValueError(f"'{value}' is not a moment: write it as YYYY-MM-DD HH:MM, e.g. 2026-12-07 10:00.")
        try:
            dt.datetime.fromisoformat(value.replace(" ", "T"))
        except ValueError:
            raise ValueError(f"'{value}' is not a real date and time.") from None
        return value.replace("T", " ")

    def zone(self, config: SkillbaseConfig, default: str) -> str:
        return self.timezone or config.context.timezone or default

    def moment(self, zone: str) -> dt.datetime | None:
        """When the call happens, on the test's clock; None: whenever it runs."""
        if not self.at:
            return None
        return dt.datetime.fromisoformat(self.at.replace(" ", "T")).replace(tzinfo=ZoneInfo(zone))


def validate_test(data: Any, config: SkillbaseConfig | None = None) -> ConversationTest:
    """The typed test, or ConfigError naming each problem by its path; with ``config``, steps,
    fields and variables must be the script's own."""
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue("", "A test conversation must be a JSON object with a name and lines.")])
    try:
        test = ConversationTest.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(issues_from_pydantic(exc, ConversationTest)) from None
    if config is not None:
        issues = _against(test, config)
        if issues:
            raise ConfigError(issues)
    return test


def validate_tests(items: Any, config: SkillbaseConfig | None = None) -> list[ConversationTest]:
    """A whole list of tests; every problem of every test, each path starting with its index."""
    if not isinstance(items, list):
        raise ConfigError([ConfigIssue("", "The test conversations must be a JSON list.")])
    tests, issues, names = [], [], set()
    for index, item in enumerate(items):
        try:
            test = validate_test(item, config)
        except ConfigError as exc:
            issues += [ConfigIssue(f"[{index}]" + (f".{i.path}" if i.path else ""), i.message) for i in exc.issues]
            continue
        if test.name in names:
            issues.append(ConfigIssue(f"[{index}].name", f"Another test is already named '{test.name}'."))
        names.add(test.name)
        tests.append(test)
    if issues:
        raise ConfigError(issues)
    return tests


def _against(test: ConversationTest, config: SkillbaseConfig) -> list[ConfigIssue]:
    steps = [step.id for step in config.flow.steps]
    fields = list(dict.fromkeys([c.field for step in config.flow.steps for c in step.collect] + ["callback_at"]))
    known = config.flow.known_variables()
    issues = []
    for name in ("reached", "avoided"):
        for i, step in enumerate(getattr(test.expect, name)):
            if step not in steps:
                issues.append(ConfigIssue(f"expect.{name}[{i}]", f"There is no step '{step}'; the steps are: {', '.join(steps)}."))
    for i, step in enumerate(test.expect.reached):
        if step in test.expect.avoided:
            issues.append(ConfigIssue(f"expect.reached[{i}]", f"Step '{step}' cannot be both reached and avoided."))
    for name in test.expect.collected:
        if name not in fields:
            issues.append(
                ConfigIssue(f"expect.collected.{name}", f"The script collects no field '{name}'; it collects: {', '.join(fields)}.")
            )
    for i, name in enumerate(test.expect.not_collected):
        if name not in fields:
            issues.append(
                ConfigIssue(f"expect.not_collected[{i}]", f"The script collects no field '{name}'; it collects: {', '.join(fields)}.")
            )
        elif name in test.expect.collected:
            issues.append(ConfigIssue(f"expect.not_collected[{i}]", f"Field '{name}' cannot be both collected and not collected."))
    for name in test.variables:
        if name not in known:
            issues.append(
                ConfigIssue(f"variables.{name}", f"The script uses no variable '{name}'; it uses: {', '.join(sorted(known)) or 'none'}.")
            )
    return issues


@dataclass
class Run:
    """What one test conversation produced."""

    outcome: str = ""
    ended: bool = False
    steps: list[str] = field(default_factory=list)
    collected: dict[str, Any] = field(default_factory=dict)
    shown: dict[str, str] = field(default_factory=dict)
    transcript: list[dict[str, str]] = field(default_factory=list)  # [{"role": "bot"|"callee", "text": ...}]

    def bot_said(self) -> str:
        return " ".join(line["text"] for line in self.transcript if line["role"] == "bot")


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower().replace("ё", "е")))


def said(phrase: str, text: str) -> bool:
    """Whether ``phrase`` was said in ``text``: whole words, in order, case and punctuation aside."""
    wanted = _words(phrase)
    return bool(wanted) and f" {wanted} " in f" {_words(text)} "


def _value_matches(expected: str, stored: Any, shown: str) -> bool:
    if expected == "":
        return True
    stored_text = str(stored)
    return (
        stored_text == expected
        or stored_text.startswith(expected)
        or _words(shown) == _words(expected)
        or _words(stored_text) == _words(expected)
    )


def judge(test: ConversationTest, run: Run) -> list[str]:
    """What did not come out as expected, one sentence each (empty: the test passed)."""
    expect, failures = test.expect, []
    if expect.outcome and run.outcome != expect.outcome:
        got = run.outcome or ("none; the call had not ended" if not run.ended else "none")
        failures.append(f"The outcome was {got}, not {expect.outcome}.")
    for name, value in expect.collected.items():
        if name not in run.collected:
            failures.append(f"'{name}' was not collected.")
        elif not _value_matches(value, run.collected[name], run.shown.get(name, "")):
            failures.append(f"'{name}' was {run.collected[name]!r}, not {value!r}.")
    for name in expect.not_collected:
        if name in run.collected:
            failures.append(f"'{name}' was collected ({run.collected[name]!r}) though it should not be.")
    for step in expect.reached:
        if step not in run.steps:
            failures.append(f"Step '{step}' was never reached (steps: {' > '.join(run.steps)}).")
    for step in expect.avoided:
        if step in run.steps:
            failures.append(f"Step '{step}' was reached though it should not be.")
    spoken = run.bot_said()
    for phrase in expect.says:
        if not said(phrase, spoken):
            failures.append(f"The bot never said “{phrase}”.")
    for phrase in expect.never_says:
        if said(phrase, spoken):
            failures.append(f"The bot said “{phrase}”, which it must not.")
    return failures
