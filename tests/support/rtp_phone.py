"""A phone that talks: a SIP user agent on loopback that answers one call and exchanges real RTP
audio (G.711 µ-law, 8 kHz, 20 ms packets) with the caller.

It plays what it is given (PCM, 16-bit mono 8 kHz: a recorded line, a tone, a voicemail greeting
and its beep) and keeps everything it hears, so a test can tell whether the bot spoke. SIPp answers
the calls whose audio does not matter (``tests/support/real_livekit.py``); this one is for the
calls whose audio does. Only what a callee's phone needs is here: INVITE (with retransmissions),
ACK, BYE either way, and RTP both ways.
"""

from __future__ import annotations

import math
import random
import re
import socket
import struct
import threading
import time
import warnings
from dataclasses import dataclass, field

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # G.711 in the standard library up to Python 3.12

RATE = 8000
FRAME_SAMPLES = 160  # 20 ms
PCMU = 0


def tone(seconds: float, frequency: float = 440.0, level: float = 0.3) -> bytes:
    """16-bit mono PCM at 8 kHz: a sine, for a beep or a line that must be heard."""
    count = int(seconds * RATE)
    return b"".join(struct.pack("<h", int(level * 32767 * math.sin(2 * math.pi * frequency * n / RATE))) for n in range(count))


def rms(pcm: bytes) -> float:
    """Loudness of 16-bit PCM, 0 (silence) to 32767."""
    return float(audioop.rms(pcm, 2)) if pcm else 0.0


@dataclass
class _Dialog:
    call_id: str
    remote_sip: tuple[str, int]
    remote_rtp: tuple[str, int]
    invite_headers: dict[str, list[str]]
    local_tag: str
    remote_target: str
    cseq: int = 1


def _parse(message: str) -> tuple[str, dict[str, list[str]], str]:
    head, _, body = message.partition("\r\n\r\n")
    first, *lines = head.split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return first, headers, body


@dataclass
class RtpPhone:
    """Answers the first INVITE on ``port`` after ``answer_after`` seconds of ringing."""

    answer_after: float = 0.5
    plays: bytes = b""  # PCM played once the call is answered (then silence)
    heard: bytearray = field(default_factory=bytearray)
    events: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind(("127.0.0.1", 0))
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))
        self.port, self.rtp_port = self.sip.getsockname()[1], self.rtp.getsockname()[1]
        self.answered, self.ended = threading.Event(), threading.Event()
        self.first_audio_at: float | None = None  # time.monotonic() of the first loud packet heard
        self.answered_at: float | None = None
        self.invited_at: float | None = None  # when the INVITE arrived
        self.loud_at: list[float] = []  # when each loud packet arrived
        self.said_until: float | None = None  # when the phone last finished saying something
        self._dialog: _Dialog | None = None
        self._responses: dict[str, bytes] = {}
        self._stop = threading.Event()
        self._to_say, self._speaking = bytearray(), threading.Lock()
        self._threads = [threading.Thread(target=loop, daemon=True) for loop in (self._sip_loop, self._rtp_in, self._rtp_out)]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> RtpPhone:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.sip.close()
        self.rtp.close()

    # SIP

    def _sip_loop(self) -> None:
        self.sip.settimeout(0.1)
        while not self._stop.is_set():
            try:
                data, sender = self.sip.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            first, headers, body = _parse(data.decode(errors="replace"))
            method = first.split(" ", 1)[0]
            self.events.append(first)
            if method == "INVITE":
                self._on_invite(first, headers, body, sender)
            elif method == "BYE":
                self._reply(headers, sender, "200 OK")
                self.ended.set()
            elif method in ("CANCEL", "OPTIONS"):
                self._reply(headers, sender, "200 OK")
                if method == "CANCEL":
                    self.ended.set()

    def _reply(
        self, headers: dict[str, list[str]], to: tuple[str, int], status: str, *, tag: str = "", extra: str = "", body: str = ""
    ) -> bytes:
        to_header = headers["to"][0] + (f";tag={tag}" if tag and ";tag=" not in headers["to"][0] else "")
        lines = [f"SIP/2.0 {status}", *(f"Via: {via}" for via in headers["via"]), f"From: {headers['from'][0]}", f"To: {to_header}",
                 f"Call-ID: {headers['call-id'][0]}", f"CSeq: {headers['cseq'][0]}"]  # fmt: skip
        if extra:
            lines.append(extra)
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body.encode())}")
        message = ("\r\n".join(lines) + "\r\n\r\n" + body).encode()
        self.sip.sendto(message, to)
        return message

    def _on_invite(self, first: str, headers: dict[str, list[str]], body: str, sender: tuple[str, int]) -> None:
        call_id = headers["call-id"][0]
        if call_id in self._responses:  # a retransmission: the same answer again
            self.sip.sendto(self._responses[call_id], sender)
            return
        if self._dialog is not None:
            self._reply(headers, sender, "486 Busy Here")
            return
        media_ip = re.search(r"^c=IN IP4 (\S+)", body, re.M)
        media_port = re.search(r"^m=audio (\d+)", body, re.M)
        contact = re.search(r"<([^>]+)>", headers.get("contact", [""])[0])
        self.invited_at = time.monotonic()
        tag = f"phone{random.randrange(10**8)}"
        self._dialog = _Dialog(
            call_id=call_id, remote_sip=sender, invite_headers=headers, local_tag=tag,
            remote_rtp=(media_ip.group(1) if media_ip else sender[0], int(media_port.group(1)) if media_port else 0),
            remote_target=contact.group(1) if contact else first.split(" ")[1],
        )  # fmt: skip
        self._reply(headers, sender, "180 Ringing", tag=tag)
        threading.Timer(self.answer_after, self._answer, args=(headers, sender, tag)).start()

    def _answer(self, headers: dict[str, list[str]], sender: tuple[str, int], tag: str) -> None:
        if self.ended.is_set():
            return
        sdp = (f"v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               f"m=audio {self.rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
               "a=ptime:20\r\na=sendrecv\r\n")  # fmt: skip
        contact = f"Contact: <sip:phone@127.0.0.1:{self.port}>"
        self._responses[headers["call-id"][0]] = self._reply(headers, sender, "200 OK", tag=tag, extra=contact, body=sdp)
        self.answered_at = time.monotonic()
        self.answered.set()

    def say(self, pcm: bytes) -> None:
        """Speak ``pcm`` (16-bit mono 8 kHz) after whatever is still being said."""
        with self._speaking:
            self._to_say += pcm

    def heard_after(self, moment: float) -> float | None:
        """When the phone first heard sound after ``moment`` (time.monotonic())."""
        return next((at for at in self.loud_at if at > moment), None)

    def quiet_for(self, seconds: float) -> bool:
        """Whether the last ``seconds`` of what the phone heard were silence."""
        tail = bytes(self.heard[-int(seconds * RATE) * 2 :])
        return len(tail) >= int(seconds * RATE) * 2 and rms(tail) < 200

    def hang_up(self) -> None:
        """Send BYE, as a callee who puts the phone down."""
        dialog = self._dialog
        if dialog is None or self.ended.is_set():
            return
        dialog.cseq += 1
        headers = dialog.invite_headers
        to_remote = headers["from"][0]
        me = headers["to"][0] + f";tag={dialog.local_tag}"
        lines = [f"BYE {dialog.remote_target} SIP/2.0", f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{random.randrange(10**9)}",
                 f"From: {me}", f"To: {to_remote}", f"Call-ID: {dialog.call_id}", f"CSeq: {dialog.cseq} BYE", "Max-Forwards: 70",
                 "Content-Length: 0"]  # fmt: skip
        self.sip.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), dialog.remote_sip)
        self.ended.set()

    # RTP

    def _rtp_in(self) -> None:
        self.rtp.settimeout(0.1)
        while not self._stop.is_set():
            try:
                packet, _sender = self.rtp.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(packet) < 12 or packet[1] & 0x7F != PCMU:
                continue
            pcm = audioop.ulaw2lin(packet[12:], 2)
            self.heard += pcm
            if rms(pcm) > 500:
                self.loud_at.append(time.monotonic())
                if self.first_audio_at is None:
                    self.first_audio_at = self.loud_at[-1]

    def _rtp_out(self) -> None:
        self.answered.wait()
        sequence, timestamp, ssrc = random.randrange(65536), random.randrange(2**32), random.randrange(2**32)
        next_at = time.monotonic()
        self.say(self.plays)
        while not self._stop.is_set() and not self.ended.is_set():
            with self._speaking:
                chunk = bytes(self._to_say[: FRAME_SAMPLES * 2])
                del self._to_say[: FRAME_SAMPLES * 2]
                if chunk and not self._to_say:
                    self.said_until = time.monotonic() + len(chunk) / 2 / RATE
            chunk = chunk.ljust(FRAME_SAMPLES * 2, b"\x00")
            header = struct.pack("!BBHII", 0x80, PCMU, sequence, timestamp, ssrc)
            dialog = self._dialog
            if dialog is not None and dialog.remote_rtp[1]:
                try:
                    self.rtp.sendto(header + audioop.lin2ulaw(chunk, 2), dialog.remote_rtp)
                except OSError:
                    return
            sequence, timestamp = (sequence + 1) % 65536, (timestamp + FRAME_SAMPLES) % 2**32
            next_at += FRAME_SAMPLES / RATE
            time.sleep(max(0.0, next_at - time.monotonic()))
