import asyncio
import contextlib
import logging
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Run a LiveKit agent worker: it takes the calls the dialer dispatches to LIVEKIT_AGENT_NAME. On SIGTERM "
        "(or Ctrl-C) it drains: it takes no new call and exits once its live calls have ended, waiting at most "
        "NEWVOICE_AGENT_DRAIN_SECONDS; a second signal stops it at once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--idle-processes", type=int, default=None, help="Job processes kept warm (default: one per CPU).")

    def handle(self, *args, idle_processes: int | None, **options):
        missing = [name for name in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET") if not getattr(settings, name)]
        if missing:
            raise CommandError(f"Set {', '.join(missing)} in the environment to connect the agent worker to LiveKit.")
        from livekit.agents import AgentServer

        from voiceagent.job import entrypoint, prepare_process

        kwargs = {"num_idle_processes": idle_processes} if idle_processes is not None else {}
        server = AgentServer(
            ws_url=settings.LIVEKIT_URL,
            api_key=settings.LIVEKIT_API_KEY,
            api_secret=settings.LIVEKIT_API_SECRET,
            setup_fnc=prepare_process,
            # Above this CPU load the worker tells the server it is full, and calls go to other workers.
            load_threshold=settings.NEWVOICE_AGENT_LOAD_THRESHOLD,
            drain_timeout=settings.NEWVOICE_AGENT_DRAIN_SECONDS,
            **kwargs,
        )
        # Explicit dispatch: only calls the dialer names this agent for reach this worker.
        server.rtc_session(entrypoint, agent_name=settings.LIVEKIT_AGENT_NAME)
        self.stdout.write(f"Agent worker '{settings.LIVEKIT_AGENT_NAME}' connecting to {settings.LIVEKIT_URL}")
        asyncio.run(_serve(server))


async def _serve(server) -> None:
    """Run the worker until a signal; the first one drains, a second one stops at once."""
    loop = asyncio.get_running_loop()
    running = asyncio.create_task(server.run())
    stopping: asyncio.Task | None = None

    async def drain_then_close() -> None:
        try:
            await server.drain()
        except TimeoutError:
            logger.warning("Live calls outlasted NEWVOICE_AGENT_DRAIN_SECONDS; stopping them")
        await server.aclose()

    def on_signal() -> None:
        nonlocal stopping
        if stopping is None:
            logger.info("Draining: no new calls; exiting once the live ones end")
            stopping = asyncio.create_task(drain_then_close())
        else:
            logger.info("Stopping now")
            running.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    with contextlib.suppress(asyncio.CancelledError):
        await running
    if stopping is not None and not stopping.done():
        stopping.cancel()
    await server.aclose()
