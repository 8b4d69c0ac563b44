"""A local LiveKit server API, for driving the real ``livekit-api`` client in tests.

It speaks LiveKit's Twirp protocol: ``POST /twirp/livekit.<Service>/<Method>`` with a binary
protobuf body and ``Authorization: Bearer <JWT>``, answered with a binary protobuf message or with
a Twirp JSON error ``{"code", "msg", "meta"}`` and the HTTP status Twirp gives that code. It serves
``RoomService/CreateRoom`` and ``DeleteRoom``, ``AgentDispatchService/CreateDispatch`` and
``SIP/CreateSIPParticipant``, checks the token's signature with the test secret and its grants
against what each method needs, as LiveKit does, and keeps every request with its decoded message
and grants.

How the dialled phone answers comes from ``sip_outcome``: ``"answer"``; ``"no_answer"`` (the
ringing timeout, which LiveKit reports as Twirp ``canceled`` with no SIP status); a SIP status code
such as ``486``, sent with the Twirp code LiveKit maps it to and ``sip_status_code``/``sip_status``
in ``meta``; a ``TwirpError``; or a function of the request, plain or async, returning one of those.
Any method can be made to fail with ``failures[method] = TwirpError(...)``.

The server has its own thread and event loop: the code under test runs its own loop in the test's
thread.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from google.protobuf.message import Message
from livekit import api

API_KEY = "fake-key"
API_SECRET = "fake-livekit-secret-of-at-least-32-bytes"  # shorter HS256 keys make pyjwt warn

# Twirp's HTTP status for each error code.
TWIRP_STATUS = {
    "canceled": 408,
    "unknown": 500,
    "invalid_argument": 400,
    "malformed": 400,
    "deadline_exceeded": 408,
    "not_found": 404,
    "bad_route": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "unauthenticated": 401,
    "resource_exhausted": 429,
    "failed_precondition": 412,
    "aborted": 409,
    "out_of_range": 400,
    "unimplemented": 501,
    "internal": 500,
    "unavailable": 503,
    "dataloss": 500,
}

# The Twirp code LiveKit gives a SIP failure (livekit/protocol, livekit/sip.go: sipCodeToGRPCCode).
SIP_TWIRP_CODES = {
    403: "permission_denied",
    404: "not_found",
    408: "deadline_exceeded",
    410: "not_found",
    480: "resource_exhausted",
    484: "invalid_argument",
    486: "resource_exhausted",
    487: "aborted",
    500: "failed_precondition",
    503: "failed_precondition",
    504: "deadline_exceeded",
    600: "resource_exhausted",
    603: "permission_denied",
    604: "not_found",
    607: "permission_denied",
    608: "permission_denied",
}

SIP_PHRASES = {
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    480: "Temporarily Unavailable",
    484: "Address Incomplete",
    486: "Busy Here",
    503: "Service Unavailable",
    600: "Busy Everywhere",
    603: "Decline",
    607: "Unwanted",
    608: "Rejected",
}


@dataclass
class TwirpError(Exception):
    code: str
    msg: str
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> int:
        return TWIRP_STATUS[self.code]

    def response(self) -> web.Response:
        body = {"code": self.code, "msg": self.msg, **({"meta": self.meta} if self.meta else {})}
        return web.json_response(body, status=self.status)


def sip_failure(code: int, phrase: str = "") -> TwirpError:
    """The error LiveKit answers ``CreateSIPParticipant`` with when the far end sends this SIP status."""
    # Like the server: the reason phrase, else the status's enum name.
    phrase = phrase or SIP_PHRASES.get(code) or api.SIPStatusCode.Name(code)
    default = "failed_precondition" if 500 <= code < 600 else "invalid_argument"
    meta = {"sip_status_code": str(code), "sip_status": phrase}
    return TwirpError(SIP_TWIRP_CODES.get(code, default), f"INVITE failed: sip status: {code}: {phrase}", meta)


NO_ANSWER = TwirpError("canceled", "twirp error unknown: sip request timed out")

SipOutcome = str | int | TwirpError | Callable[[api.CreateSIPParticipantRequest], Any]


@dataclass
class Received:
    """One request as the server decoded it: the message and the token's claims (grants; empty when refused)."""

    service: str
    method: str
    message: Message
    claims: dict[str, Any]
    headers: dict[str, str]


@dataclass(frozen=True)
class _Route:
    request: type[Message]
    handler: Callable[[Any], Any]
    allowed: Callable[[dict[str, Any], Any], bool]


class FakeLiveKit:
    """``with FakeLiveKit() as server:`` then point the client at ``server.url``."""

    def __init__(self, *, api_key: str = API_KEY, api_secret: str = API_SECRET) -> None:
        self.api_key, self.api_secret = api_key, api_secret
        self.sip_outcome: SipOutcome = "answer"
        self.failures: dict[str, TwirpError] = {}  # by method: answer this error instead
        self.requests: list[Received] = []
        self.rooms: dict[str, api.Room] = {}
        self.script_errors: list[BaseException] = []
        self.url = ""
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._routes = {
            ("RoomService", "CreateRoom"): _Route(api.CreateRoomRequest, self._create_room, _video("roomCreate")),
            ("RoomService", "DeleteRoom"): _Route(api.DeleteRoomRequest, self._delete_room, _video("roomCreate")),
            ("AgentDispatchService", "CreateDispatch"): _Route(
                api.CreateAgentDispatchRequest,
                self._create_dispatch,
                lambda claims, req: _video("roomAdmin")(claims, req) and claims["video"].get("room") == req.room,
            ),
            ("SIP", "CreateSIPParticipant"): _Route(
                api.CreateSIPParticipantRequest, self._create_sip_participant, lambda claims, _req: claims.get("sip", {}).get("call")
            ),
        }

    def received(self, method: str) -> list[Message]:
        """The messages of every request to ``method`` (e.g. "CreateSIPParticipant"), in order."""
        return [r.message for r in self.requests if r.method == method]

    def start(self) -> FakeLiveKit:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-livekit", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop = self._thread = self._runner = None

    def __enter__(self) -> FakeLiveKit:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/twirp/livekit.{service}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"ws://{host}:{port}"  # as LIVEKIT_URL is usually written; the client posts to http://

    async def _handle(self, http: web.Request) -> web.Response:
        route = self._routes.get((http.match_info["service"], http.match_info["method"]))
        if route is None:
            return TwirpError("bad_route", f"no handler for {http.path}").response()
        if http.content_type != "application/protobuf":
            return TwirpError("malformed", f"this fake only reads protobuf bodies, not {http.content_type}").response()
        message = route.request.FromString(await http.read())
        received = Received(http.match_info["service"], http.match_info["method"], message, {}, dict(http.headers))
        self.requests.append(received)
        try:
            received.claims = claims = self._claims(http.headers.get("Authorization", ""))
            if not route.allowed(claims, message):
                raise TwirpError("permission_denied", "permissions denied")
            if failure := self.failures.get(http.match_info["method"]):
                raise failure
            reply = route.handler(message)
            if inspect.isawaitable(reply):
                reply = await reply
        except TwirpError as error:
            return error.response()
        return web.Response(body=reply.SerializeToString(), content_type="application/protobuf")

    def _claims(self, authorization: str) -> dict[str, Any]:
        token = authorization.removeprefix("Bearer ")
        if not authorization.startswith("Bearer ") or not token:
            raise TwirpError("unauthenticated", "no authorization header")
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
            if issuer != self.api_key:
                raise TwirpError("unauthenticated", f"invalid API key: {issuer}")
            return jwt.decode(token, self.api_secret, algorithms=["HS256"], issuer=self.api_key, options={"require": ["exp", "nbf"]})
        except jwt.PyJWTError as exc:
            raise TwirpError("unauthenticated", f"invalid token: {exc}") from None

    def _create_room(self, request: api.CreateRoomRequest) -> api.Room:
        room = self.rooms.get(request.name) or api.Room(
            sid=f"RM_{next(self._ids)}", name=request.name, empty_timeout=request.empty_timeout, metadata=request.metadata
        )
        self.rooms[room.name] = room
        return room

    def _delete_room(self, request: api.DeleteRoomRequest) -> api.DeleteRoomResponse:
        if self.rooms.pop(request.room, None) is None:
            raise TwirpError("not_found", "requested room does not exist")
        return api.DeleteRoomResponse()

    def _create_dispatch(self, request: api.CreateAgentDispatchRequest) -> api.AgentDispatch:
        return api.AgentDispatch(id=f"AD_{next(self._ids)}", agent_name=request.agent_name, room=request.room, metadata=request.metadata)

    async def _create_sip_participant(self, request: api.CreateSIPParticipantRequest) -> api.SIPParticipantInfo:
        outcome = self.sip_outcome
        if callable(outcome):
            try:
                outcome = outcome(request)
                if inspect.isawaitable(outcome):
                    outcome = await outcome
            except Exception as exc:  # a broken script must fail the test, not pass for a server error
                self.script_errors.append(exc)
                raise TwirpError("internal", f"test script failed: {exc!r}") from None
        if isinstance(outcome, TwirpError):
            raise outcome
        if outcome == "no_answer":
            raise NO_ANSWER
        if isinstance(outcome, int):
            raise sip_failure(outcome)
        if outcome != "answer":
            self.script_errors.append(ValueError(f"unknown SIP outcome {outcome!r}"))
            raise TwirpError("internal", f"unknown SIP outcome {outcome!r}")
        return api.SIPParticipantInfo(
            participant_id=f"PA_{next(self._ids)}",
            participant_identity=request.participant_identity,
            room_name=request.room_name,
            sip_call_id=f"SCL_{next(self._ids)}",
        )


def _video(grant: str) -> Callable[[dict[str, Any], Any], bool]:
    return lambda claims, _request: bool(claims.get("video", {}).get(grant))


def unused_url() -> str:
    """The URL of a port nothing listens on: a LiveKit server that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"ws://127.0.0.1:{port}"
