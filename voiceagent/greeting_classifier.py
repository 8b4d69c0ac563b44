"""The answering-machine detector's classifier, offline: which kind of greeting answered the call.

livekit-agents' ``AMD`` asks an LLM to classify the callee's first words by calling its
``save_prediction(label)`` tool (human, machine-vm, machine-unavailable, machine-ivr, uncertain).
Left without one, it would ask the session's own LLM, the ``flow`` script, which would take the
greeting for the callee's answer and walk the conversation on it. This one answers from the
voicemail phrases the flow knows (``voiceagent.flow.matching``) and a few of its own.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from livekit.agents import llm
from livekit.agents.llm import ChatChunk, ChoiceDelta, FunctionToolCall
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, APIConnectOptions, NotGivenOr

from voiceagent.flow.matching import compile_phrases, match_intents, normalise, sounds_like_voicemail

_KINDS = compile_phrases(
    {
        "machine-unavailable": {
            "ru": ["ящик переполнен", "вне зоны действия", "аппарат абонента выключен", "номер не обслуживается"],
            "en": ["mailbox is full", "has not been set up", "hasn't been set up", "not in service", "no longer in service"],
        },
        "machine-ivr": {
            "ru": ["нажмите", "для связи с оператором", "представьтесь"],
            "en": ["press one", "press 1", "press the pound", "state your name", "para español"],
        },
    }
)
HUMAN_WORDS = 6  # a person says "Hello?", "Yes, Anna speaking"; a greeting this short that is no machine's is one


def classify(transcript: str) -> str:
    """The AMD category of a greeting transcript."""
    found = match_intents(transcript, _KINDS)
    if found:
        return max(found, key=found.get)
    if sounds_like_voicemail(transcript):
        return "machine-vm"
    words = normalise(transcript).split()
    return "human" if 0 < len(words) <= HUMAN_WORDS else "uncertain"


class GreetingClassifier(llm.LLM):
    @property
    def model(self) -> str:
        return "greeting-phrases"

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
        return _Verdict(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)


class _Verdict(llm.LLMStream):
    async def _run(self) -> None:
        messages = [m for m in self.chat_ctx.messages() if m.role == "user"]
        label = classify(messages[-1].text_content or "") if messages else "uncertain"
        call = FunctionToolCall(name="save_prediction", arguments=json.dumps({"label": label}), call_id=f"amd-{uuid.uuid4().hex[:12]}")
        self._event_ch.send_nowait(ChatChunk(id=call.call_id, delta=ChoiceDelta(role="assistant", tool_calls=[call])))
