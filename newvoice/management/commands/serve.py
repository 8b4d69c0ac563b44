"""Everything the embedded mode needs, in one command: web server, background tasks, dispatcher."""

import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

STOP_GRACE_SECONDS = 8  # qcluster can hang on SIGTERM; after this it is killed


class Command(BaseCommand):
    help = "Run the web server, the django-q2 cluster and the dispatcher together; Ctrl-C stops all three."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--start-demo", action="store_true", help="Start the demo campaign (after seed_demo).")
        parser.add_argument(
            "--audio", action="store_true",
            help="With --start-demo: the demo's simulated calls speak, at real time, and are recorded (needs `make speech`).",
        )  # fmt: skip

    def handle(self, *args, host: str, port: int, start_demo: bool, audio: bool, **options):
        if audio and not start_demo:
            raise CommandError("--audio goes with --start-demo.")
        if start_demo:
            self._start_demo(audio=audio)
        python = [sys.executable, "manage.py"]
        commands = {
            "web": [*python, "runserver", f"{host}:{port}", "--noreload"],
            "tasks": [*python, "qcluster"],
            "dispatcher": [*python, "dispatcher"],
        }
        self.children = {name: subprocess.Popen(command, cwd=settings.BASE_DIR) for name, command in commands.items()}
        self.stopping = False
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)
        self.stdout.write(self.style.SUCCESS(f"\n  NEW-VOICE is running: http://{host}:{port}/admin/  (Ctrl-C to stop)\n"))
        while not self.stopping:
            for name, child in self.children.items():
                if child.poll() is not None:
                    self._shutdown()
                    raise CommandError(f"The {name} process stopped (exit code {child.returncode}); everything was stopped.")
            time.sleep(0.5)
        self._shutdown()

    def _start_demo(self, *, audio: bool = False) -> None:
        from campaigns.models import Campaign

        campaign = Campaign.objects.filter(organization__slug="demo", status__in=["draft", "paused"]).order_by("id").first()
        if campaign is None:
            return
        if campaign.simulator_audio != audio:
            campaign.simulator_audio = audio
            campaign.save(update_fields=["simulator_audio", "updated_at"])
        problems = campaign.start()
        if problems:
            self.stderr.write(f"The demo campaign did not start: {' '.join(map(str, problems))}")
        else:
            self.stdout.write(f"Started the demo campaign '{campaign}': watch its calls in the admin.")

    def _stop(self, *_args) -> None:
        self.stopping = True

    def _shutdown(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in self.children.values():
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
