"""django-q2 tasks of the campaigns app: they take ids, and running one twice is harmless."""

from campaigns.contacts.importing import import_contacts
from campaigns.models import ContactImport


def run_contact_import(import_id: int) -> None:
    job = ContactImport.objects.select_related("campaign").get(pk=import_id)
    if not job.claim():
        return
    with job.file.open("rb") as stream:
        report = import_contacts(
            job.campaign,
            stream,
            job.filename,
            dry_run=job.dry_run,
            region=job.region or None,
            progress=lambda rows: job.record_progress(rows, stream.tell()),
            atomic=False,
        )
    job.finish(report.as_dict())
