"""What a LiveKit job process runs. Kept free of Django imports at module level: job processes are
started fresh (forkserver), and Django must be set up in them before any model is imported."""

from __future__ import annotations

import os


def prepare_process(proc) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "newvoice.settings")
    import django

    django.setup()
    from voiceagent.flow.when import warm_up
    from voiceagent.local_speech import warm_local_speech
    from voiceagent.providers import build_vad

    warm_up()
    warm_local_speech()
    proc.userdata["vad"] = build_vad()


async def entrypoint(ctx) -> None:
    from voiceagent.worker import run_call_job

    await run_call_job(ctx)
