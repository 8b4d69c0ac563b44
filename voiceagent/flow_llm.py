"""The ``flow`` LLM provider: a livekit-agents LLM that walks the skillbase's script offline.

It answers like a real LLM does: to the callee's words with tool calls (move to a step, record a
field, schedule a callback, opt out, handle voicemail) and, once the tools have run, with the text
of the step they led to, plus ``end_call`` on an end step. Token usage is counted the way a model
would bill it (words in the context in, words out), so usage and cost tracking work offline too.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from livekit.agents import llm
from livekit.agents.llm import ChatChunk, ChoiceDelta, CompletionUsage, FunctionToolCall
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, APIConnectOptions, NotGivenOr

from voiceagent.flow.conversation import Conversation
from voiceagent.flow.engine import Decision, ToolCall

SILENCE = ""  # what a silent turn looks like in the chat context


class FlowLLM(llm.LLM):
    def __init__(self, conversation: Conversation) -> None:
        super().__init__()
        self.conversation = conversation
        self._after_tools: Decision | None = None

    @property
    def model(self) -> str:
        return "flow"

    @property
    def provider(self) -> str:
        return "newvoice"

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> llm.LLMStream:
        return _FlowStream(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)

    def respond(self, chat_ctx: llm.ChatContext) -> tuple[str, list[ToolCall]]:
        """Text to say and tool calls to make, for the context as it stands."""
        conversation = self.conversation
        if conversation.state.ended:
            return "", []
        last = chat_ctx.items[-1] if chat_ctx.items else None
        if last is not None and last.type == "message" and last.role == "user":
            decision = conversation.engine.decide(conversation.state, last.text_content or SILENCE, now=conversation.now)
            if decision.calls:
                self._after_tools = decision
                return "", decision.calls
            return self._speak(decision)
        decision, self._after_tools = self._after_tools or Decision(), None
        if conversation.state.voicemail:
            return "", []
        return self._speak(decision)

    def _speak(self, decision: Decision) -> tuple[str, list[ToolCall]]:
        conversation = self.conversation
        if decision.say is not None:
            text, outcome = decision.say, decision.end
        else:
            text, outcome = conversation.engine.speech(conversation.state)
        return text, [ToolCall("end_call", {"outcome": outcome})] if outcome else []


class _FlowStream(llm.LLMStream):
    async def _run(self) -> None:
        flow_llm: FlowLLM = self._llm  # type: ignore[assignment]
        text, calls = flow_llm.respond(self.chat_ctx)
        chunk_id = f"flow-{uuid.uuid4().hex[:12]}"
        if text:
            self._event_ch.send_nowait(ChatChunk(id=chunk_id, delta=ChoiceDelta(role="assistant", content=text)))
        if calls:
            tool_calls = [
                FunctionToolCall(name=c.name, arguments=json.dumps(c.arguments, ensure_ascii=False), call_id=f"call-{i}-{chunk_id}")
                for i, c in enumerate(calls)
            ]
            self._event_ch.send_nowait(ChatChunk(id=chunk_id, delta=ChoiceDelta(role="assistant", tool_calls=tool_calls)))
        prompt = sum(len((m.text_content or "").split()) for m in self.chat_ctx.messages())
        completion = len(text.split()) + 5 * len(calls)
        usage = CompletionUsage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)
        self._event_ch.send_nowait(ChatChunk(id=chunk_id, usage=usage))
