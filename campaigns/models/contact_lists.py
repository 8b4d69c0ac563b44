"""The do-not-call list, and contact files imported in the background."""

from django.conf import settings
from django.db import models, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models.campaign import Campaign, e164_validator
from tenancy.scoping import OwnedModel


class DoNotCallEntry(OwnedModel):
    """A number the organization must never call."""

    class Source(models.TextChoices):
        MANUAL = "manual", _("Added by hand")
        IMPORT = "import", _("Imported")
        API = "api", _("API")
        OPT_OUT = "opt_out", _("Callee opted out")

    phone = models.CharField(_("phone"), max_length=16, validators=[e164_validator])
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.MANUAL)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("added by")
    )
    created_at = models.DateTimeField(_("added"), auto_now_add=True)

    class Meta:
        verbose_name = _("do-not-call entry")
        verbose_name_plural = _("do-not-call list")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["organization", "phone"], name="dnc_unique_phone")]

    def __str__(self) -> str:
        return self.phone


class ContactImport(OwnedModel):
    """A contact file imported in the background, with progress the admin and API show."""

    class Status(models.TextChoices):
        MAPPING = "mapping", _("Waiting for its columns to be mapped")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="imports", verbose_name=_("campaign"))
    file = models.FileField(_("file"), upload_to="imports/%Y/%m/")
    filename = models.CharField(_("file name"), max_length=255)
    size = models.PositiveBigIntegerField(_("size, bytes"), default=0)
    region = models.CharField(_("region"), max_length=2, blank=True)
    dry_run = models.BooleanField(_("dry run"), default=False)
    # Which column feeds which of the script's variables (campaigns.contacts.mapping.ColumnMapping).
    mapping = models.JSONField(_("column mapping"), default=dict, blank=True)
    # The uploader's language: a background import writes its report's reasons in it.
    language = models.CharField(_("language"), max_length=16, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    rows_processed = models.PositiveIntegerField(_("rows processed"), default=0)
    bytes_processed = models.PositiveBigIntegerField(_("bytes processed"), default=0)
    report = models.JSONField(_("report"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("uploaded by")
    )
    created_at = models.DateTimeField(_("uploaded"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # A background import works in slices and saves where it is with every committed batch; a
    # worker that dies leaves the place to resume from, and its heartbeat goes quiet.
    heartbeat_at = models.DateTimeField(_("last sign of work"), null=True, blank=True)
    checkpoint = models.JSONField(_("place to resume from"), default=dict, blank=True)
    resumes = models.PositiveSmallIntegerField(_("resumed after a stall"), default=0)

    class Meta:
        verbose_name = _("contact import")
        verbose_name_plural = _("contact imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.filename} → {self.campaign_id}"

    @staticmethod
    def goes_to_background(size: int) -> bool:
        """Whether a file of ``size`` bytes is imported by a background task (with progress) rather
        than while its uploader waits. The one rule every door follows."""
        return size > settings.NEWVOICE_IMPORT_BACKGROUND_BYTES

    def claim(self) -> bool:
        """Take the import for this worker; False when another one has it or it is finished. A
        resumed import keeps the time it first started (its time limit counts from there)."""
        now = timezone.now()
        claimed = ContactImport.objects.filter(pk=self.pk, status=self.Status.QUEUED).update(
            status=self.Status.RUNNING, started_at=Coalesce(F("started_at"), now), heartbeat_at=now
        )
        if claimed:
            self.refresh_from_db(fields=["status", "started_at", "heartbeat_at", "checkpoint", "resumes"])
        return claimed == 1

    def record_progress(self, rows: int, bytes_read: int, *, checkpoint: dict | None = None) -> None:
        """Progress and a heartbeat; with ``checkpoint``, also the place to resume from (saved in the
        transaction of the batch it describes)."""
        fields = {"rows_processed": rows, "bytes_processed": bytes_read, "heartbeat_at": timezone.now()}
        if checkpoint is not None:
            fields["checkpoint"] = checkpoint
        ContactImport.objects.filter(pk=self.pk).update(**fields)

    def requeue(self, *, stalled: bool = False) -> bool:
        """Back in the queue to go on from its checkpoint: after a slice (``stalled=False``) or
        when its worker stopped answering. False when it is no longer running."""
        changes = {"status": self.Status.QUEUED}
        if stalled:
            changes["resumes"] = F("resumes") + 1
        moved = ContactImport.objects.filter(pk=self.pk, status=self.Status.RUNNING).update(**changes)
        return moved == 1

    @property
    def preview_expired(self) -> bool:
        """A dry run whose file was deleted (it was confirmed, or kept past its time unconfirmed)."""
        return self.dry_run and not self.file.name

    def finish(self, report: dict) -> None:
        self.status = self.Status.FAILED if report.get("file_error") else self.Status.DONE
        self.report, self.rows_processed, self.finished_at = report, report.get("total", 0), timezone.now()
        self.checkpoint = {}
        self.save(update_fields=["status", "report", "rows_processed", "finished_at", "checkpoint"])
        if not self.dry_run:
            self.forget_file()

    def forget_file(self) -> None:
        """Delete the uploaded file (personal data) once nothing needs it: after the real import,
        and with the import's row. A dry run keeps it until it is confirmed (the real import reads
        the same file) or deleted."""
        name = self.file.name
        if not name:
            return
        ContactImport.objects.filter(file=name).update(file="")
        transaction.on_commit(lambda: self.file.storage.delete(name))
        self.file.name = ""

    @property
    def progress(self) -> float:
        """Share of the file read, 0..1."""
        if self.status == self.Status.DONE:
            return 1.0
        return min(self.bytes_processed / self.size, 1.0) if self.size else 0.0


@receiver(post_delete, sender=ContactImport, dispatch_uid="campaigns.contact_import_file")
def _delete_the_file_with_its_import(sender, instance: ContactImport, **kwargs) -> None:
    # Also when the import goes with its campaign (a cascade calls no model method): the uploaded
    # contacts must not outlive the campaign they were uploaded to.
    if instance.file.name and not ContactImport.objects.filter(file=instance.file.name).exists():
        name, storage = instance.file.name, instance.file.storage
        transaction.on_commit(lambda: storage.delete(name))
