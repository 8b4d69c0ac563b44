"""The real LiveKit server and SIP service on loopback, and SIPp as the phone they call.

``deploy/livekit.sh`` (``make livekit``) builds the server and the SIP service once per machine;
these helpers start them for a test session with their own ports and Redis database, and run SIPp
scenarios from ``tests/fixtures/sip`` as the callee's phone. Where the parts are not there, the
tests skip saying how to get them, except in CI, where they fail: a real-call test never vanishes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.support.ci import in_ci
from tests.support.databases import database_url

BIN = Path(os.environ.get("NEWVOICE_LIVEKIT_BIN", "/var/cache/newvoice/bin"))
SCENARIOS = Path(__file__).resolve().parents[1] / "fixtures" / "sip"
API_KEY = "newvoice-test"
API_SECRET = "newvoice-test-secret-of-at-least-32-characters"
REDIS_DB = 7  # LiveKit's own keys, away from the channel layer's database
STARTUP_SECONDS = 30


def missing_parts() -> list[str]:
    missing = [str(BIN / name) for name in ("livekit-server", "livekit-sip") if not os.access(BIN / name, os.X_OK)]
    if shutil.which("sipp") is None:
        missing.append("sipp (Debian: sip-tester)")
    return missing


def require_real_livekit() -> str:
    """The Redis URL the parts share; skips (locally) or fails (in CI) saying what is missing."""
    problems = []
    if missing := missing_parts():
        problems.append(f"not built or installed: {', '.join(missing)}; run `make livekit`")
    redis_url = os.environ.get("REDIS_URL", "")
    if not redis_url:
        problems.append("the LiveKit server and SIP service share Redis: set REDIS_URL (CI's PostgreSQL + Redis run does)")
    if problems:
        message = "real-call tests need the real LiveKit server and SIP service: " + "; ".join(problems)
        if in_ci() and missing_parts():
            pytest.fail(message)
        pytest.skip(message)
    return redis_url


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_range(size: int) -> int:
    """The first of ``size`` UDP ports that look free (a random high block)."""
    for _attempt in range(50):
        first = free_port(socket.SOCK_DGRAM)
        if first + size > 65000:
            continue
        try:
            with contextlib.ExitStack() as stack:
                for port in range(first, first + size):
                    probe = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                    probe.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
    raise RuntimeError("no free block of UDP ports on loopback")


@dataclass
class RealLiveKit:
    url: str
    sip_port: int
    workdir: Path
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_http(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # answering, whatever it says
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{process.args[0]} did not answer at {url} within {STARTUP_SECONDS} s:\n{log.read_text(errors='replace')[-3000:]}")


@contextlib.contextmanager
def running_livekit(redis_url: str) -> Iterator[RealLiveKit]:
    """The LiveKit server (its HTTP API and WebRTC on loopback) and the SIP service registered with
    it through Redis, each with fresh ports, for as long as the block runs."""
    redis = urlparse(redis_url)
    redis_address = f"{redis.hostname or '127.0.0.1'}:{redis.port or 6379}"
    # An earlier server's nodes, rooms and SIP services linger in Redis for a while; this server
    # must not route its calls to them.
    import redis as redis_client

    redis_client.Redis(host=redis.hostname or "127.0.0.1", port=redis.port or 6379, db=REDIS_DB).flushdb()
    http_port, rtc_tcp, health = free_port(), free_port(), free_port()
    ice, rtp, sip_port = free_range(40), free_range(100), free_port(socket.SOCK_DGRAM)
    workdir = Path(tempfile.mkdtemp(prefix="nv-livekit-"))
    (workdir / "server.yaml").write_text(
        f"port: {http_port}\nbind_addresses: [127.0.0.1]\n"
        f"rtc:\n  tcp_port: {rtc_tcp}\n  port_range_start: {ice}\n  port_range_end: {ice + 39}\n"
        "  use_external_ip: false\n  node_ip: 127.0.0.1\n"
        f"redis:\n  address: {redis_address}\n  db: {REDIS_DB}\n"
        f"keys:\n  {API_KEY}: {API_SECRET}\nlogging:\n  level: info\n"
    )
    (workdir / "sip.yaml").write_text(
        f"api_key: {API_KEY}\napi_secret: {API_SECRET}\nws_url: ws://127.0.0.1:{http_port}\n"
        f"redis:\n  address: {redis_address}\n  db: {REDIS_DB}\n"
        f"sip_port: {sip_port}\nsip_port_listen: {sip_port}\nlisten_ip: 127.0.0.1\nrtp_port: {rtp}-{rtp + 99}\n"
        f"use_external_ip: false\nnat_1_to_1_ip: 127.0.0.1\nmedia_nat_1_to_1_ip: 127.0.0.1\nhealth_port: {health}\n"
        # The service refuses calls ("cpu exhausted") while the machine is 90% busy; a test machine
        # shares its cores with the suite, so only a machine with no idle time at all refuses.
        "max_cpu_utilization: 1.0\n"
        "logging:\n  level: debug\n"
    )
    livekit = RealLiveKit(url=f"http://127.0.0.1:{http_port}", sip_port=sip_port, workdir=workdir)
    try:
        for name, binary, health_url in (
            ("server", BIN / "livekit-server", f"http://127.0.0.1:{http_port}/"),
            ("sip", BIN / "livekit-sip", f"http://127.0.0.1:{health}/"),
        ):
            log = workdir / f"{name}.log"
            with log.open("wb") as out:
                process = subprocess.Popen([str(binary), "--config", str(workdir / f"{name}.yaml")], stdout=out, stderr=subprocess.STDOUT)
            livekit.processes.append(process)
            _wait_http(health_url, process, log)
        yield livekit
    finally:
        livekit.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class Phone:
    """A SIPp scenario answering on one loopback port: the trunk's address."""

    process: subprocess.Popen
    port: int
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def wait(self, timeout: float = 60) -> int:
        """SIPp's exit code once the scenario ended: 0 when every step happened as written."""
        return self.process.wait(timeout=timeout)

    def messages(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@contextlib.contextmanager
def phone(scenario: str, *keys: tuple[str, str], rtp_echo: bool = False) -> Iterator[Phone]:
    """Run ``tests/fixtures/sip/<scenario>.xml`` for one call, on a free UDP port."""
    port, media = free_port(socket.SOCK_DGRAM), free_range(4)
    workdir = Path(tempfile.mkdtemp(prefix="nv-phone-"))
    log = workdir / "messages.log"
    # SIPp checks response codes when it loads a scenario, before any keyword is filled in: the
    # placeholders (@code@) are filled in here.
    text = (SCENARIOS / f"{scenario}.xml").read_text()
    for key, value in keys:
        text = text.replace(f"@{key}@", value)
    (workdir / "scenario.xml").write_text(text)
    command = ["sipp", "-sf", str(workdir / "scenario.xml"), "-i", "127.0.0.1", "-p", str(port), "-mi", "127.0.0.1",
               "-mp", str(media), "-m", "1", "-nostdin", "-trace_msg", "-message_file", str(log), "-trace_err",
               "-error_file", str(workdir / "errors.log")]  # fmt: skip
    if rtp_echo:
        command.append("-rtp_echo")
    process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)  # SIPp binds its port before reading the first message
    sip = Phone(process, port, log)
    try:
        yield sip
    finally:
        sip.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class AgentWorker:
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill_everything(self) -> None:
        """``kill -9`` the worker and its job processes at once, as a machine that dies."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@contextlib.contextmanager
def agent_worker(livekit: RealLiveKit, *, agent_name: str, redis_url: str, **env_overrides: str) -> Iterator[AgentWorker]:
    """``manage.py run_agent`` registered with the real server, as a deployment runs it."""
    root = Path(__file__).resolve().parents[2]
    workdir = Path(tempfile.mkdtemp(prefix="nv-agent-"))
    log = workdir / "agent.log"
    env = {
        **{key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG", "CI")},
        "DJANGO_SETTINGS_MODULE": "newvoice.settings", "DATABASE_URL": database_url(), "REDIS_URL": redis_url,
        "SECRET_KEY": "test-only", "PYTHONPATH": str(root), "LIVEKIT_URL": livekit.ws_url, "LIVEKIT_API_KEY": API_KEY,
        "LIVEKIT_API_SECRET": API_SECRET, "LIVEKIT_AGENT_NAME": agent_name, "LOG_LEVEL": "INFO",
        # The suite shares the machine's cores: a busy test machine must not read as a full worker.
        "NEWVOICE_AGENT_LOAD_THRESHOLD": "1", **env_overrides,
    }  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_agent", "--idle-processes", "1"],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "registered worker" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the agent worker did not register:\n{log.read_text(errors='replace')[-4000:]}")
            time.sleep(0.2)
        yield AgentWorker(process, log)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # job processes left behind
        shutil.rmtree(workdir, ignore_errors=True)
