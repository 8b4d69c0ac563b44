"""Call recordings: kept in storage, served only to those who may see the call (the admin's call page
and the API, with byte ranges for seeking), never as a public URL, and deleted when their retention
period is over while the call keeps its transcript and metrics."""

import datetime as dt
import math

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.models import CallMetrics
from campaigns.dispatch import tick
from campaigns.models import CallRecording
from campaigns.recordings import expire_recordings, keep_recording
from tests.support.calls import conversation, ended_call
from tests.support.engine import make_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.NEWVOICE_RECORDING_RETENTION_DAYS = 30


def stereo_ogg(path, seconds: float = 2.0) -> None:
    """A real two-channel Ogg/Opus file: a tone on the left, another on the right."""
    import av
    import numpy as np

    rate = 16000
    t = np.arange(int(rate * seconds)) / rate
    block = np.stack([np.sin(2 * math.pi * 440 * t), np.sin(2 * math.pi * 660 * t)]).astype(np.float32) * 0.3
    with av.open(str(path), mode="w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=rate, layout="stereo")
        frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)


@pytest.fixture
def recorded(org, skillbase, tmp_path):
    campaign = make_campaign(org, skillbase)
    call = ended_call(campaign, events=conversation(("assistant", "Hello!"), ("user", "Yes"), ("assistant", "Great.")))
    audio = tmp_path / "call.ogg"
    stereo_ogg(audio)
    from voiceagent.voice_session import recording_seconds

    recording = keep_recording(call.pk, audio, started_at=call.answered_at, seconds=recording_seconds(audio))
    assert recording is not None and not audio.exists()  # moved into storage
    return call


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_kept_recording_is_in_storage_with_its_length(recorded):
    recording = CallRecording.objects.get(call=recorded)
    assert recording.available and default_storage.exists(recording.file.name)
    assert recording.file.name.startswith(f"recordings/{recorded.organization_id}/")
    assert recording.seconds == pytest.approx(2.0, abs=0.1)
    assert recording.size == default_storage.size(recording.file.name)


def test_the_api_serves_the_recording_to_the_call_s_organization_only(recorded, operator, other_org, member_factory):
    response = api(operator).get(f"/api/analytics/calls/{recorded.pk}/recording")
    assert response.status_code == 200 and response["Content-Type"] == "audio/ogg"
    body = b"".join(response.streaming_content)
    assert body[:4] == b"OggS" and len(body) == CallRecording.objects.get(call=recorded).size
    assert "no-store" in response["Cache-Control"] and response["Accept-Ranges"] == "bytes"
    outsider = member_factory(other_org)
    assert api(outsider).get(f"/api/analytics/calls/{recorded.pk}/recording").status_code == 404
    assert APIClient().get(f"/api/analytics/calls/{recorded.pk}/recording").status_code == 401
    listed = api(operator).get(f"/api/analytics/calls/{recorded.pk}").json()
    assert listed["recording_seconds"] == pytest.approx(2.0, abs=0.1)


def test_a_byte_range_is_answered_with_that_range(recorded, operator):
    size = CallRecording.objects.get(call=recorded).size
    client = api(operator)
    part = client.get(f"/api/analytics/calls/{recorded.pk}/recording", HTTP_RANGE="bytes=10-99")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 10-99/{size}" and len(part.content) == 90
    tail = client.get(f"/api/analytics/calls/{recorded.pk}/recording", HTTP_RANGE="bytes=-16")
    assert tail.status_code == 206 and len(tail.content) == 16
    beyond = client.get(f"/api/analytics/calls/{recorded.pk}/recording", HTTP_RANGE=f"bytes={size + 5}-")
    assert beyond.status_code == 416 and beyond["Content-Range"] == f"bytes */{size}"


def test_the_call_page_plays_the_recording_and_its_lines_seek_into_it(recorded, operator, client):
    from campaigns.models import CallLog

    recording = CallRecording.objects.get(call=recorded)
    # A line's start on the recording's clock: 1.25 s after the recording started.
    line = CallLog.objects.filter(call=recorded, kind="transcript").first()
    line.data = {**line.data, "started_at": recording.started_at.timestamp() + 1.25}
    line.save()
    client.force_login(operator)
    page = client.get(f"/admin/campaigns/call/{recorded.pk}/conversation/")
    html = page.content.decode()
    assert page.status_code == 200
    assert f'src="/admin/campaigns/call/{recorded.pk}/recording/"' in html and 'data-at="1.25"' in html
    audio = client.get(f"/admin/campaigns/call/{recorded.pk}/recording/")
    assert audio.status_code == 200 and b"".join(audio.streaming_content)[:4] == b"OggS"


def test_another_organization_cannot_fetch_the_recording_from_the_admin(recorded, other_org, member_factory, client):
    client.force_login(member_factory(other_org))
    assert client.get(f"/admin/campaigns/call/{recorded.pk}/recording/").status_code == 404


def test_media_files_have_no_public_url(recorded, client):
    name = CallRecording.objects.get(call=recorded).file.name
    assert client.get(f"/media/{name}").status_code == 404


def test_recordings_past_retention_are_deleted_and_the_call_keeps_its_metrics(recorded, operator, django_capture_on_commit_callbacks):
    recording = CallRecording.objects.get(call=recorded)
    name = recording.file.name
    assert expire_recordings(timezone.now()) == 0  # not yet
    CallRecording.objects.filter(pk=recording.pk).update(created_at=timezone.now() - dt.timedelta(days=31))
    with django_capture_on_commit_callbacks(execute=True):  # the file goes once the row says so
        assert tick(enqueue=lambda call_id: None).expired_recordings == 1  # the dispatcher does it on each tick
    recording.refresh_from_db()
    assert recording.deleted_at is not None and not recording.available and not default_storage.exists(name)
    assert CallMetrics.objects.filter(call=recorded).exists()
    response = api(operator).get(f"/api/analytics/calls/{recorded.pk}/recording")
    assert response.status_code == 404 and "retention" in response.json()["detail"]
    assert api(operator).get(f"/api/analytics/calls/{recorded.pk}").json()["recording_seconds"] is None
    assert expire_recordings() == 0  # once


def test_a_call_keeps_its_first_recording_and_an_empty_file_keeps_nothing(recorded, tmp_path):
    again = tmp_path / "again.ogg"
    stereo_ogg(again, seconds=1.0)
    assert keep_recording(recorded.pk, again, started_at=timezone.now(), seconds=1.0) is None and not again.exists()
    empty = tmp_path / "empty.ogg"
    empty.write_bytes(b"")
    assert keep_recording(recorded.pk, empty, started_at=timezone.now(), seconds=0) is None
    assert CallRecording.objects.filter(call=recorded).count() == 1
