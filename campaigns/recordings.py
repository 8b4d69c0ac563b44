"""Keeping a call's recording and deleting it when its retention period is over.

The agent (or the voice simulator) records into a local file while the call runs; ``keep_recording``
moves it into the project's storage (``MEDIA_ROOT``, or whatever ``STORAGES`` names) once the call is
over. ``expire_recordings`` runs with every dispatcher tick.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from campaigns.models import Call, CallRecording

logger = logging.getLogger(__name__)
EXPIRE_BATCH = 200  # files deleted per tick at most: a backlog is worked off over several ticks


def recording_enabled() -> bool:
    return settings.NEWVOICE_RECORDING_RETENTION_DAYS > 0


def keep_recording(call_id: int, path: Path, *, started_at: dt.datetime, seconds: float) -> CallRecording | None:
    """Store the file at ``path`` as the call's recording (then remove ``path``). A missing or empty
    file keeps nothing; a call already holding a recording keeps the first."""
    path = Path(path)
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return None
        call = Call.objects.get(pk=call_id)
        if CallRecording.objects.filter(call=call).exists():
            return None
        recording = CallRecording(
            organization_id=call.organization_id, call=call, started_at=started_at, seconds=round(seconds, 2), size=path.stat().st_size
        )
        with path.open("rb") as audio:
            recording.file.save(f"call-{call_id}.ogg", File(audio), save=False)
        try:
            recording.save()
        except Exception:
            recording.file.delete(save=False)  # no file without its row
            raise
        return recording
    finally:
        path.unlink(missing_ok=True)


def expire_recordings(now: dt.datetime | None = None) -> int:
    """Delete the files of recordings older than the retention period; returns how many went."""
    if not recording_enabled():
        return 0
    now = now or timezone.now()
    deleted = 0
    for recording in CallRecording.objects.expired(now).order_by("created_at")[:EXPIRE_BATCH]:
        with transaction.atomic():
            if CallRecording.objects.filter(pk=recording.pk, deleted_at__isnull=True).update(deleted_at=now, file="") != 1:
                continue  # another dispatcher took it
            transaction.on_commit(lambda name=recording.file.name: _delete_file(name))
        deleted += 1
    return deleted


def _delete_file(name: str) -> None:
    from django.core.files.storage import default_storage

    try:
        default_storage.delete(name)
    except OSError:
        logger.exception("Could not delete the expired recording %s", name)
