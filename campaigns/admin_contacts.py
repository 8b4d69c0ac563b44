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
from campaigns.actions import confirm_contact_import, map_contact_import, remap_contact_import, start_contact_import
from campaigns.contacts.dnc import import_do_not_call
from campaigns.contacts.mapping import MAX_FILL_CHARACTERS, ColumnMapping, MappingError, parse_mapping
from campaigns.contacts.normalising import variable_key
from campaigns.contacts.preview import ImportPreview, preview_import
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


class ColumnMappingForm(forms.Form):
    """The mapping step: what each of the file's columns becomes, and what a row lacking one of the
    script's variables gets. ``mapping`` holds the checked ColumnMapping once the form is valid."""

    LEAVE, FILL, REFUSE = "leave", "fill", "refuse"

    def __init__(self, *args, preview: ImportPreview, headers: list[str], mapping: ColumnMapping, **kwargs):
        super().__init__(*args, **kwargs)
        self.headers, self.variables = headers, preview.variables
        roles = [("phone", _("phone")), ("name", _("contact's name")), ("last_name", _("last name")), ("first_name", _("first name")),
                 ("middle_name", _("middle name")), ("timezone", _("time zone"))]  # fmt: skip
        script = [(v, f"{{{v}}}") for v in preview.variables if v != "name"]
        for index, title in enumerate(headers):
            if not title:
                continue
            own = variable_key(title)
            choices = [(_("Role"), roles), (_("The script's variables"), script)] if script else [(_("Role"), roles)]
            extra = [("", _("— not imported —"))]
            if own and own not in dict(script) and own not in ("name", "phone", "timezone"):
                extra.insert(0, (own, _("kept as “%(key)s”") % {"key": own}))
            self.fields[f"column_{index}"] = forms.ChoiceField(
                label=title,
                choices=[*choices, (_("Not for the script"), extra)],
                required=False,
                initial=preview.columns.get(title, ""),
                help_text=" · ".join(preview.samples.get(title, [])),
            )
        for variable in preview.variables:
            if variable in mapping.refuse_empty:
                initial = self.REFUSE
            elif variable in mapping.fill_empty:
                initial = self.FILL
            else:
                initial = self.LEAVE
            self.fields[f"empty_{variable}"] = forms.ChoiceField(
                label=f"{{{variable}}}",
                choices=[(self.LEAVE, _("the bot leaves it out")), (self.FILL, _("the bot says instead:")),
                         (self.REFUSE, _("the row is not imported"))],
                initial=initial,
                required=False,
                widget=forms.RadioSelect,
            )  # fmt: skip
            self.fields[f"fill_{variable}"] = forms.CharField(
                label=_("words for an empty {%(variable)s}") % {"variable": variable},
                required=False,
                max_length=MAX_FILL_CHARACTERS,
                initial=mapping.fill_empty.get(variable, ""),
            )

    def _chosen(self, name: str) -> str:
        # A choice the request does not mention stays as it was; only "" leaves a column out.
        return self.cleaned_data.get(name, "") if self.add_prefix(name) in self.data else self.fields[name].initial

    def column_fields(self):
        return [self[name] for name in self.fields if name.startswith("column_")]

    def variable_rows(self):
        return [(v, self[f"empty_{v}"], self[f"fill_{v}"]) for v in self.variables]

    def clean(self):
        data = super().clean()
        columns = {title: self._chosen(f"column_{index}") for index, title in enumerate(self.headers) if title}
        refuse = [v for v in self.variables if self._chosen(f"empty_{v}") == self.REFUSE]
        fill = {v: self._chosen(f"fill_{v}") for v in self.variables if self._chosen(f"empty_{v}") == self.FILL}
        try:
            self.mapping = parse_mapping(
                {"columns": columns, "refuse_empty": refuse, "fill_empty": fill}, headers=self.headers, variables=self.variables
            )
        except MappingError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


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
            path(
                "<path:object_id>/imports/<int:import_id>/mapping/",
                wrap(self.import_mapping_view),
                name="campaigns_campaign_import_mapping",
            ),
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
                campaign,
                form.cleaned_data["file"],
                user=request.user,
                dry_run=True,
                region=form.cleaned_data["region"].upper(),
                wait_for_mapping=True,
            )
            return redirect("admin:campaigns_campaign_import_mapping", object_id=campaign.pk, import_id=job.pk)
        context = {**self.admin_site.each_context(request), "title": _("Import contacts into %(name)s") % {"name": campaign},
                   "campaign": campaign, "form": form, "opts": self.model._meta, "original": campaign}  # fmt: skip
        return TemplateResponse(request, "admin/campaigns/campaign/import_contacts.html", context)

    def import_mapping_view(self, request, object_id, import_id):
        """Pair the uploaded file's columns with the script's variables, see the first rows as the
        bot would greet them, then check the whole file (the dry run)."""
        campaign = self._campaign(request, object_id, write=True)
        job = get_object_or_404(ContactImport, campaign=campaign, pk=import_id)
        if job.status != ContactImport.Status.MAPPING or not job.file.name:
            return redirect("admin:campaigns_campaign_import_report", object_id=campaign.pk, import_id=job.pk)
        mapping = parse_mapping(job.mapping)
        preview, headers = self._preview(campaign, job, mapping)
        form = ColumnMappingForm(request.POST or None, preview=preview, headers=headers, mapping=mapping)
        if request.method == "POST" and not preview.file_error and form.is_valid():
            if request.POST.get("action") == "run":
                map_contact_import(job, form.mapping)
                return redirect("admin:campaigns_campaign_import_report", object_id=campaign.pk, import_id=job.pk)
            ContactImport.objects.filter(pk=job.pk, status=ContactImport.Status.MAPPING).update(mapping=form.mapping.as_dict())
            mapping = form.mapping
            preview, headers = self._preview(campaign, job, mapping)
            form = ColumnMappingForm(preview=preview, headers=headers, mapping=mapping)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Map the columns of %(file)s") % {"file": job.filename},
            "campaign": campaign, "job": job, "form": form, "preview": preview,
            "running": campaign.status == campaign.Status.RUNNING,
            "opts": self.model._meta, "original": campaign,
            "campaign_url": reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
        }  # fmt: skip
        return TemplateResponse(request, "admin/campaigns/campaign/import_mapping.html", context)

    @staticmethod
    def _preview(campaign, job, mapping) -> tuple[ImportPreview, list[str]]:
        with job.file.open("rb") as stream:
            preview = preview_import(campaign, stream, job.filename, mapping, region=job.region)
        return preview, preview.headers

    def import_report_view(self, request, object_id, import_id):
        campaign = self._campaign(request, object_id, write=request.method == "POST")
        job = get_object_or_404(ContactImport, campaign=campaign, pk=import_id)
        if request.method == "POST":
            if not job.dry_run or job.status != ContactImport.Status.DONE:
                raise Http404
            if job.preview_expired:  # confirmed already, or kept past its time: the page says which
                return redirect("admin:campaigns_campaign_import_report", object_id=campaign.pk, import_id=job.pk)
            if request.POST.get("remap"):
                again = remap_contact_import(job, user=request.user)
                return redirect("admin:campaigns_campaign_import_mapping", object_id=campaign.pk, import_id=again.pk)
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
            "campaign_running": campaign.status == campaign.Status.RUNNING,
            "empty_variables": sorted((report.get("empty_variables") or {}).items()),
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
