"""A conversation with a skillbase in text mode: the production agent, no audio, no network.

Used by ``manage.py chat``, the simulator, the admin's "Try this bot" page and the tests.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

from livekit.agents import AgentSession
from livekit.agents.voice.agent_session import SessionConnectOptions
from livekit.agents.voice.io import AudioOutput, TextOutput
from livekit.agents.voice.run_result import ChatMessageEvent, FunctionCallEvent, FunctionCallOutputEvent

from skillbases.schemas import SkillbaseConfig
from voiceagent.agent import CallHooks, SkillbaseAgent
from voiceagent.flow.conversation import Conversation
from voiceagent.providers import build_llm, require_keys, turn_handling


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
    def __init__(
        self,
        config: SkillbaseConfig,
        variables: dict[str, Any],
        *,
        timezone: str,
        hooks: CallHooks | None = None,
        tts: Any = None,
        audio_output: AudioOutput | None = None,
        transcription_output: TextOutput | None = None,
        conversation: Conversation | None = None,
    ):
        require_keys(config, voice=False)
        self.conversation = conversation or Conversation(config, variables, timezone=timezone)
        self.agent = SkillbaseAgent(self.conversation, hooks=hooks)
        self.llm = build_llm(config, self.conversation)
        # With a TTS and an audio output (the simulator's), replies take time to play and the
        # callee can cut them short, under the skillbase's own interruption settings.
        speech = {}
        if tts is not None:
            handling = turn_handling(config)
            # There is no callee audio to tell a false interruption by, so nothing to resume after.
            handling["interruption"] = {**handling["interruption"], "resume_false_interruption": False}
            speech = {"tts": tts, "turn_handling": handling}
        # A turn whose LLM request fails raises the provider's error from send(), every time. With
        # livekit's default the fourth failure in a row closes the session instead: that turn then
        # returns nothing, as if the bot had nothing to say, and later turns hit a dead session.
        never_close = SessionConnectOptions(max_unrecoverable_errors=sys.maxsize)
        self.session = AgentSession(llm=self.llm, conn_options=never_close, **speech)
        if audio_output is not None:
            self.session.output.audio = audio_output
        if transcription_output is not None:
            self.session.output.transcription = transcription_output
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
        goodbye = await self.agent.enforce_limits()
        if goodbye is not None:
            return [Line("say", text=goodbye)]
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
