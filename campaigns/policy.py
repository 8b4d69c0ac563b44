"""A campaign's retry policy: which outcomes are tried again, after how long."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from skillbases.outcomes import RETRYABLE


class OutcomeRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retry: bool = True
    delay_minutes: int = Field(default=60, ge=1, le=60 * 24 * 30)


def parse_retry_policy(data: Any) -> dict[str, OutcomeRule]:
    """The policy by outcome, or ValueError listing each problem with its path."""
    if not isinstance(data, dict):
        raise ValueError('retry_policy: must be an object like {"busy": {"retry": true, "delay_minutes": 30}}.')
    problems, rules = [], {}
    for outcome, rule in data.items():
        if outcome not in RETRYABLE:
            allowed = ", ".join(RETRYABLE)
            problems.append(f"retry_policy.{outcome}: '{outcome}' cannot be retried here; retryable outcomes are {allowed}.")
            continue
        try:
            rules[outcome] = OutcomeRule.model_validate(rule)
        except ValidationError as exc:
            for error in exc.errors():
                path = ".".join(str(p) for p in (outcome, *error["loc"]))
                problems.append(f"retry_policy.{path}: {error['msg']}.")
    if problems:
        raise ValueError(" ".join(problems))
    return rules
