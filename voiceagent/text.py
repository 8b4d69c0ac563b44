"""A conversation with a skillbase in text mode: the production agent, no audio, no network.

Used by ``manage.py chat``, the simulator, the admin's "Try this bot" page and the tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from livekit.agents import AgentSession
from livekit.agents.voice.run_result import ChatMessageEvent, FunctionCallEvent, FunctionCallOutputEvent

from skillbases.schemas import SkillbaseConfig
from voiceagent.agent import CallHooks, SkillbaseAgent
from voiceagent.flow.conversation import Conversation
from voiceagent.providers import build_llm, require_keys


@dataclass
class Line:
    """One thing that happened in a turn: the bot said something, or called a tool."""

    kind: str  # "say" or "tool"
    text: str = ""
    tool: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    output: str = ""
    interrupted: bool = False


def _lines(events) -> list[Line]:
    lines: list[Line] = []
    calls: dict[str, Line] = {}
    for event in events:
        item = event.item
        if isinstance(event, ChatMessageEvent) and item.role == "assistant":
            lines.append(Line("say", text=item.text_content or "", interrupted=bool(item.interrupted)))
        elif isinstance(event, FunctionCallEvent):
            calls[item.call_id] = Line("tool", tool=item.name, arguments=json.loads(item.arguments or "{}"))
            lines.append(calls[item.call_id])
        elif isinstance(event, FunctionCallOutputEvent) and item.call_id in calls:
            calls[item.call_id].output = item.output
    return lines


class TextConversation:
    def __init__(self, config: SkillbaseConfig, variables: dict[str, Any], *, timezone: str, hooks: CallHooks | None = None):
        require_keys(config, voice=False)
        self.conversation = Conversation(config, variables, timezone=timezone)
        self.agent = SkillbaseAgent(self.conversation, hooks=hooks)
        self.llm = build_llm(config, self.conversation)
        self.session = AgentSession(llm=self.llm)
        if hasattr(hooks, "attach"):
            hooks.attach(self.session)

    @property
    def state(self):
        return self.conversation.state

    @property
    def ended(self) -> bool:
        return self.conversation.state.ended

    async def start(self) -> list[Line]:
        result = await self.session.start(self.agent, capture_run=True)
        return _lines(result.events)

    async def send(self, text: str) -> list[Line]:
        if self.ended:
            return []
        result = await self.session.run(user_input=text)
        return _lines(result.events)

    async def aclose(self) -> None:
        await self.session.aclose()
        await self.llm.aclose()

    async def __aenter__(self) -> TextConversation:
        self.greeting = await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()
