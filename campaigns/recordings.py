"""Keeping a call's recording and deleting it when its retention period is over.

The agent (or the voice simulator) records into a local file while the call runs; ``keep_recording``
moves it into the project's storage (``MEDIA_ROOT``, or whatever ``STORAGES`` names) once the call is
over. ``expire_recordings`` runs with every dispatcher tick.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.http import FileResponse, Http404, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

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


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def recording_response(request, recording: CallRecording) -> HttpResponse:
    """The recording's audio for a browser's ``<audio>`` (with byte ranges, so it can seek) or an
    API client. The caller has checked that the user may see the call."""
    if not recording.available:
        raise Http404(_("The recording of call %(id)s was deleted under the retention period.") % {"id": recording.call_id})
    try:
        audio = recording.file.open("rb")
    except (FileNotFoundError, OSError):
        raise Http404(_("The recording file of call %(id)s is missing from storage.") % {"id": recording.call_id}) from None
    size = recording.file.size
    headers = {
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, no-store",
        "Content-Disposition": f'inline; filename="call-{recording.call_id}.ogg"',
        "X-Content-Type-Options": "nosniff",
    }
    match = _RANGE.match(request.headers.get("Range", "").strip())
    if match and (match[1] or match[2]):
        if match[1]:
            start, end = int(match[1]), min(int(match[2]) if match[2] else size - 1, size - 1)
        else:
            start, end = max(size - int(match[2]), 0), size - 1
        if start > end or start >= size:
            audio.close()
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        audio.seek(start)
        body = audio.read(end - start + 1)
        audio.close()
        response = HttpResponse(body, status=206, content_type=recording.content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    else:
        response = FileResponse(audio, content_type=recording.content_type)
    for name, value in headers.items():
        response[name] = value
    return response
