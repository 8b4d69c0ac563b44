import asyncio

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run a LiveKit agent worker: it takes the calls the dialer dispatches to LIVEKIT_AGENT_NAME."

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
            **kwargs,
        )
        # Explicit dispatch: only calls the dialer names this agent for reach this worker.
        server.rtc_session(entrypoint, agent_name=settings.LIVEKIT_AGENT_NAME)
        self.stdout.write(f"Agent worker '{settings.LIVEKIT_AGENT_NAME}' connecting to {settings.LIVEKIT_URL}")
        asyncio.run(server.run())
