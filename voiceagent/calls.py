"""A call as the agent needs it: the script version, the contact's variables and time zone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from campaigns.models import Call
from skillbases.schemas import SkillbaseConfig


@dataclass
class CallSetup:
    call: Call
    config: SkillbaseConfig
    variables: dict[str, Any]
    timezone: str

    @property
    def call_id(self) -> int:
        return self.call.pk


def contact_timezone(zones: list[str], default: str) -> str:
    """The zone to read the callee's times in: theirs when the number tells it, else the campaign's.

    A number that maps to several zones (a mobile range covering a whole country) says nothing
    about where the person is, so the campaign's default zone is the better guess."""
    return zones[0] if len(zones) == 1 else default


def load_call_setup(call_id: int) -> CallSetup:
    call = Call.objects.select_related("task", "campaign", "skillbase_version").get(pk=call_id)
    task = call.task
    variables = {**task.variables, "name": task.name, "phone": task.phone}
    return CallSetup(
        call=call,
        config=call.skillbase_version.parsed_config(),
        variables=variables,
        timezone=contact_timezone(task.timezones, call.campaign.default_timezone),
    )
