"""Admin pages for contact files: import with a dry-run preview, results export, do-not-call import.

The same importer serves the API and ``manage.py import_contacts``; these views only parse the
form, check the user's role, call it and show the report.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns import exporting
from campaigns.actions import confirm_contact_import, start_contact_import
from campaigns.contacts.dnc import import_do_not_call
from campaigns.models import ContactImport
from tenancy.admin_scoping import organizations_for
from tenancy.models import Organization, Role

ERRORS_SHOWN = 500


class ContactFileForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("Contact file"), help_text=gettext_lazy("CSV (any encoding and delimiter) or XLSX."))
    region = forms.CharField(
        label=gettext_lazy("Country for numbers without a code"), max_length=2, required=False, help_text=gettext_lazy("e.g. RU, US")
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.NEWVOICE_IMPORT_MAX_BYTES:
            limit = settings.NEWVOICE_IMPORT_MAX_BYTES / 2**20
            raise forms.ValidationError(
                _("The file is %(size).1f MB; the limit is %(limit).1f MB.") % {"size": upload.size / 2**20, "limit": limit}
            )
        return upload


class DoNotCallFileForm(ContactFileForm):
    organization = forms.ModelChoiceField(label=gettext_lazy("Organization"), queryset=Organization.objects.none())

    def __init__(self, *args, organizations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = Organization.objects.filter(pk__in=organizations)
        self.order_fields(["organization", "file", "region"])


class ContactFilesMixin:
    """Campaign admin: import contacts (preview, then confirm), follow imports, export results."""

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/import-contacts/", wrap(self.import_contacts_view), name="campaigns_campaign_import"),
            path("<path:object_id>/imports/<int:import_id>/", wrap(self.import_report_view), name="campaigns_campaign_import_report"),
            path("<path:object_id>/export/<str:kind>/", wrap(self.export_view), name="campaigns_campaign_export"),
            *super().get_urls(),
        ]

    def _campaign(self, request, object_id, *, write: bool):
        campaign = self.get_object(request, object_id)  # 404 for another organization's campaign
        allowed = self.has_change_permission(request, campaign) if write else self.has_view_permission(request, campaign)
        if not allowed:
            raise PermissionDenied
        return campaign

    def import_contacts_view(self, request, object_id):
        campaign = self._campaign(request, object_id, write=True)
        form = ContactFileForm(request.POST or None, request.FILES or None, initial={"region": campaign.default_region})
        if request.method == "POST" and form.is_valid():
            job = start_contact_import(
                campaign, form.cleaned_data["file"], user=request.user, dry_run=True, region=form.cleaned_data["region"].upper()
            )
            return redirect("admin:campaigns_campaign_import_report", object_id=campaign.pk, import_id=job.pk)
        context = {**self.admin_site.each_context(request), "title": _("Import contacts into %(name)s") % {"name": campaign},
                   "campaign": campaign, "form": form, "opts": self.model._meta, "original": campaign}  # fmt: skip
        return TemplateResponse(request, "admin/campaigns/campaign/import_contacts.html", context)

    def import_report_view(self, request, object_id, import_id):
        campaign = self._campaign(request, object_id, write=request.method == "POST")
        job = get_object_or_404(ContactImport, campaign=campaign, pk=import_id)
        if request.method == "POST":
            if not job.dry_run or job.status != ContactImport.Status.DONE:
                raise Http404
            if job.preview_expired:  # confirmed already, or kept past its time: the page says which
                return redirect("admin:campaigns_campaign_import_report", object_id=campaign.pk, import_id=job.pk)
            real = confirm_contact_import(job, user=request.user)
            return redirect("admin:campaigns_campaign_import_report", object_id=campaign.pk, import_id=real.pk)
        report = job.report or {}
        context = {
            **self.admin_site.each_context(request),
            "title": _("Dry run of %(file)s") % {"file": job.filename} if job.dry_run else _("Import of %(file)s") % {"file": job.filename},
            "campaign": campaign, "job": job, "report": report, "errors": (report.get("errors") or [])[:ERRORS_SHOWN],
            "errors_hidden": max(len(report.get("errors") or []) - ERRORS_SHOWN, 0) + report.get("errors_not_shown", 0),
            "notes": (report.get("notes") or [])[:ERRORS_SHOWN],
            "notes_hidden": max(len(report.get("notes") or []) - ERRORS_SHOWN, 0) + report.get("notes_not_shown", 0),
            "running": job.status in (ContactImport.Status.QUEUED, ContactImport.Status.RUNNING),
            "progress_percent": round(job.progress * 100),
            "can_confirm": job.dry_run and job.status == "done" and report.get("imported") and not job.preview_expired,
            "preview_hours": settings.NEWVOICE_IMPORT_PREVIEW_HOURS,
            "opts": self.model._meta, "original": campaign,
            "campaign_url": reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
        }  # fmt: skip
        return TemplateResponse(request, "admin/campaigns/campaign/import_report.html", context)

    def export_view(self, request, object_id, kind):
        campaign = self._campaign(request, object_id, write=False)
        name = slugify(campaign.name) or f"campaign-{campaign.pk}"
        if kind == "xlsx":
            response = HttpResponse(exporting.export_xlsx(campaign), content_type=exporting.XLSX_TYPE)
        elif kind == "csv":
            response = StreamingHttpResponse(exporting.export_csv(campaign), content_type="text/csv; charset=utf-8")
        else:
            raise Http404
        response["Content-Disposition"] = f'attachment; filename="{name}.{kind}"'
        return response


class DoNotCallImportMixin:
    """Do-not-call admin: add numbers from a CSV or XLSX file."""

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [path("import-file/", wrap(self.import_file_view), name="campaigns_donotcallentry_import"), *super().get_urls()]

    def import_file_view(self, request):
        organizations = organizations_for(request, Role.OPERATOR)
        if not organizations:
            raise PermissionDenied
        form = DoNotCallFileForm(request.POST or None, request.FILES or None, organizations=organizations,
                                 initial={"region": settings.NEWVOICE_DEFAULT_REGION})  # fmt: skip
        report = None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            upload = data["file"]
            report = import_do_not_call(
                data["organization"].pk,
                upload,
                upload.name,
                region=(data["region"] or settings.NEWVOICE_DEFAULT_REGION).upper(),
                user=request.user,
            )
            if report.file_error:
                form.add_error("file", report.file_error)
                report = None
            else:
                messages.success(request, _("%(added)d numbers added to the do-not-call list.") % {"added": report.added})
        context = {**self.admin_site.each_context(request), "title": _("Import a do-not-call list"), "form": form,
                   "report": report, "opts": self.model._meta}  # fmt: skip
        return TemplateResponse(request, "admin/campaigns/donotcallentry/import_file.html", context)
