"""A call's recording: both sides in one stereo file (callee left, bot right), kept for
``NEWVOICE_RECORDING_RETENTION_DAYS`` and then deleted; the row stays, so the call still says it had
one and when it went. Served only through the organization-scoped admin view and API, never as a
public media URL."""

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models.call import Call
from tenancy.scoping import OrganizationQuerySet, OwnedModel


def recording_path(recording: "CallRecording", filename: str) -> str:
    return f"recordings/{recording.organization_id}/{timezone.now():%Y/%m}/call-{recording.call_id}.ogg"


class CallRecordingQuerySet(OrganizationQuerySet):
    def kept(self) -> "CallRecordingQuerySet":
        return self.filter(deleted_at__isnull=True).exclude(file="")

    def expired(self, now: dt.datetime | None = None) -> "CallRecordingQuerySet":
        cutoff = (now or timezone.now()) - dt.timedelta(days=settings.NEWVOICE_RECORDING_RETENTION_DAYS)
        return self.kept().filter(created_at__lt=cutoff)


class CallRecording(OwnedModel):
    call = models.OneToOneField(Call, on_delete=models.CASCADE, related_name="recording", verbose_name=_("call"))
    file = models.FileField(_("file"), upload_to=recording_path, max_length=255, blank=True)
    content_type = models.CharField(_("content type"), max_length=64, default="audio/ogg")
    started_at = models.DateTimeField(_("recording started"), help_text=_("Where second 0 of the file is on the call's clock."))
    seconds = models.FloatField(_("length (seconds)"))
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    created_at = models.DateTimeField(_("kept since"), auto_now_add=True)
    deleted_at = models.DateTimeField(
        _("deleted"), null=True, blank=True, help_text=_("When the file was deleted under the retention period.")
    )

    objects = CallRecordingQuerySet.as_manager()

    class Meta:
        verbose_name = _("call recording")
        verbose_name_plural = _("call recordings")
        indexes = [models.Index(fields=["created_at"], condition=models.Q(deleted_at__isnull=True), name="recording_kept_created_idx")]

    def __str__(self) -> str:
        return f"Recording of call {self.call_id}"

    @property
    def available(self) -> bool:
        return bool(self.file) and self.deleted_at is None
