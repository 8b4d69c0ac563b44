"""A call as the agent needs it: the script version, the contact's variables and time zone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from campaigns.models import Call
from campaigns.windows import contact_zones
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
    """The zone to read the callee's times in ("tomorrow at five"): by the same rule the calling
    window uses, the number's zone (the first, when it spans a few), or the campaign's zone when
    the number maps to a whole country's worth of zones and so says nothing about the person."""
    return contact_zones(zones, default)[0].key


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
