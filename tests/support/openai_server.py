"""A local OpenAI-compatible chat completions endpoint, for driving the real OpenAI client in tests.

``POST /v1/chat/completions`` with ``"stream": true`` is answered the way OpenAI answers it:
server-sent events carrying ``chat.completion.chunk`` objects (a role chunk, content deltas, tool
call deltas with index, id, name and arguments in pieces, a chunk with the finish reason), then,
when the client asked for ``stream_options.include_usage``, a chunk with no choices and the token
usage, then ``data: [DONE]``. What to answer comes from a per-test *script*: a function from the
request (``ChatRequest``) to text, tool calls, both (``Reply``), or an HTTP error (``HTTPError``).
Every request is kept, so a test can check what the model was sent.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class ToolCall:
    """A call the model makes; ``arguments`` as a string is sent verbatim (a model can emit broken JSON)."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)

    @property
    def arguments_json(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments, ensure_ascii=False)


@dataclass(frozen=True)
class Reply:
    text: str = ""
    tool_calls: Sequence[ToolCall] = ()


@dataclass(frozen=True)
class HTTPError:
    status: int
    message: str = "The server had an error while processing your request."


Answer = str | ToolCall | Sequence[ToolCall] | Reply | HTTPError
Script = Callable[["ChatRequest"], Answer]

_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 429: "rate_limit_exceeded"}


def content_text(content: Any) -> str:
    """A message's text, whether the client sent a string or a list of content parts."""
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


@dataclass
class ChatRequest:
    """One request as the server received it, with the views a script or an assertion needs."""

    body: dict[str, Any]
    headers: dict[str, str]
    answer: Answer | None = None
    usage: dict[str, int] | None = None

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages", [])

    @property
    def system(self) -> str:
        return "\n".join(content_text(m.get("content")) for m in self.messages if m["role"] in ("system", "developer"))

    @property
    def tools(self) -> dict[str, dict[str, Any]]:
        """Offered tools by name: their ``function`` object (description, parameters, strict)."""
        return {tool["function"]["name"]: tool["function"] for tool in self.body.get("tools", [])}

    @property
    def last(self) -> dict[str, Any]:
        return self.messages[-1]

    @property
    def user_texts(self) -> list[str]:
        return [content_text(m.get("content")) for m in self.messages if m["role"] == "user"]

    @property
    def tool_results(self) -> list[dict[str, Any]]:
        """Every tool call in the history with its output: ``{"name", "arguments", "output"}``."""
        calls = {call["id"]: call["function"] for m in self.messages if m["role"] == "assistant" for call in m.get("tool_calls") or []}
        results = []
        for message in self.messages:
            if message["role"] == "tool" and message.get("tool_call_id") in calls:
                function = calls[message["tool_call_id"]]
                output = content_text(message["content"])
                results.append({"name": function["name"], "arguments": _decoded(function["arguments"]), "output": output})
        return results

    @property
    def new_tool_results(self) -> list[dict[str, Any]]:
        """The tool outputs this request answers (those after the last assistant message)."""
        trailing = list(itertools.takewhile(lambda m: m["role"] == "tool", reversed(self.messages)))
        return self.tool_results[len(self.tool_results) - len(trailing) :] if trailing else []


def _decoded(arguments: str) -> Any:
    """Arguments as sent: decoded JSON, or the raw text when the model's JSON was broken."""
    try:
        return json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return arguments


def answers(*sequence: Answer) -> Script:
    """A script that gives these answers in order, one per request."""
    remaining = iter(sequence)
    return lambda _request: next(remaining)


class OpenAIServer:
    """``async with OpenAIServer(script) as server:`` then point the client at ``server.url``."""

    def __init__(self, script: Script | None = None, *, api_key: str = "", model: str = "gpt-4o-mini") -> None:
        self.script: Script = script or (lambda _request: "Hello.")
        self.api_key = api_key  # when set, other keys get OpenAI's 401
        self.model = model
        self.requests: list[ChatRequest] = []
        self.script_errors: list[BaseException] = []
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> OpenAIServer:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_get("/v1/models", self._models)  # the client's pre-warm request
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _models(self, http_request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": self.model, "object": "model", "created": 0, "owned_by": "test"}]})

    async def _chat_completions(self, http_request: web.Request) -> web.StreamResponse:
        request = ChatRequest(body=await http_request.json(), headers=dict(http_request.headers))
        self.requests.append(request)
        if self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.")
        try:
            request.answer = self.script(request)
        except Exception as exc:  # a broken script must fail the test, not look like a flaky model
            self.script_errors.append(exc)
            return _error(400, f"test script failed: {exc!r}")  # 400: the client does not retry it
        if isinstance(request.answer, HTTPError):
            return _error(request.answer.status, request.answer.message)
        if not request.body.get("stream"):
            return _error(400, "This test server only streams: send 'stream': true.")
        reply = _as_reply(request.answer)
        request.usage = _usage(request, reply)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(http_request)
        completion_id = f"chatcmpl-test{next(self._ids)}"
        include_usage = bool((request.body.get("stream_options") or {}).get("include_usage"))
        for chunk in _chunks(reply, completion_id=completion_id, model=request.body.get("model", self.model)):
            if include_usage:
                chunk["usage"] = None
            await response.write(_event(chunk))
        if include_usage:
            await response.write(_event(_chunk(completion_id, request.body.get("model", self.model), choices=[], usage=request.usage)))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _as_reply(answer: Answer) -> Reply:
    if isinstance(answer, Reply):
        return answer
    if isinstance(answer, str):
        return Reply(text=answer)
    if isinstance(answer, ToolCall):
        return Reply(tool_calls=[answer])
    return Reply(tool_calls=list(answer))


def _usage(request: ChatRequest, reply: Reply) -> dict[str, int]:
    """Deterministic token counts, roughly as a tokenizer would bill them (four characters a token)."""
    prompt = len(json.dumps(request.messages, ensure_ascii=False)) // 4 + 10 * len(request.tools)
    completion = len(reply.text) // 4 + sum(len(c.arguments_json) // 4 + 5 for c in reply.tool_calls) + 1
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _chunk(completion_id: str, model: str, *, choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> dict[str, Any]:
    chunk = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_test",
        "choices": choices,
    }
    if usage is not None:
        chunk["usage"] = usage
    return chunk


def _choice(delta: dict[str, Any], finish_reason: str | None = None) -> list[dict[str, Any]]:
    return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]


def _pieces(text: str, size: int) -> Iterator[str]:
    return (text[i : i + size] for i in range(0, len(text), size))


def _chunks(reply: Reply, *, completion_id: str, model: str) -> Iterator[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return _chunk(completion_id, model, choices=_choice(delta, finish_reason))

    yield chunk({"role": "assistant", "content": "", "refusal": None})
    # Content streams a word or so at a time, as tokens do.
    for i, word in enumerate(reply.text.split(" ") if reply.text else []):
        yield chunk({"content": f" {word}" if i else word})
    for index, call in enumerate(reply.tool_calls):
        call_id = f"call_{completion_id.removeprefix('chatcmpl-')}_{index}"
        head = {"index": index, "id": call_id, "type": "function", "function": {"name": call.name, "arguments": ""}}
        yield chunk({"tool_calls": [head]})
        for piece in _pieces(call.arguments_json, 7):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, "tool_calls" if reply.tool_calls else "stop")


def _event(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


def _error(status: int, message: str) -> web.Response:
    kind = _ERROR_TYPES.get(status, "server_error")
    body = {"error": {"message": message, "type": kind, "param": None, "code": kind if status == 429 else None}}
    return web.json_response(body, status=status)
