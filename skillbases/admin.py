import json

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportMixin
from import_export.formats.base_formats import JSON
from import_export.tmp_storages import CacheStorage

from skillbases.files import SkillbaseJSON, file_problem
from skillbases.forms import SkillbaseConfirmImportForm, SkillbaseForm, SkillbaseImportForm, SkillbaseTestForm
from skillbases.graph import flow_graph
from skillbases.models import Skillbase, SkillbaseTest, SkillbaseVersion
from skillbases.resources import SkillbaseResource
from skillbases.schemas import LLM_PROVIDERS, SECTIONS
from tenancy.admin_scoping import (
    OrganizationScopedAdmin,
    ReadOnlyInline,
    ScopedRelatedFieldListFilter,
    organizations_for,
    scope_queryset,
)
from tenancy.models import Organization, Role


def pretty_json(value) -> str:
    return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', json.dumps(value, ensure_ascii=False, indent=2))


def _section_display(section: str, label):
    return admin.display(description=label)(lambda self, obj: pretty_json(getattr(obj, section)))


class LLMProviderFilter(admin.SimpleListFilter):
    title = _("LLM provider")
    parameter_name = "llm_provider"

    def lookups(self, request, model_admin):
        return [(provider, provider) for provider in LLM_PROVIDERS]

    def queryset(self, request, queryset):
        return queryset.filter(llm__provider=self.value()) if self.value() else queryset


class SkillbaseVersionInline(ReadOnlyInline, admin.TabularInline):
    model = SkillbaseVersion
    fields = ("version", "author", "note", "created_at", "tests")
    readonly_fields = fields
    max_rows = 20
    verbose_name_plural = _("latest versions")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("author")

    @admin.display(description=_("tests"))
    def tests(self, obj) -> str:
        run = obj.latest_test_run()
        if run is None:
            return "—"
        url = reverse("admin:skillbases_skillbaseversion_change", args=[obj.pk])
        return format_html('<a href="{}#tests">{}</a>', url, test_run_summary(run))


def test_run_summary(run) -> str:
    if run is None:
        return "—"
    colour = {"passed": "#2e7d32", "failed": "#c62828", "error": "#c62828"}.get(run.status, "#666")
    return format_html('<strong style="color: {}">{}</strong>', colour, run.summary())


def test_run_details(run) -> str:
    """Each test of a run: passed or why not, and the conversation as it went."""
    if run is None:
        return _("No test conversations have run on this version.")
    if run.status == run.Status.ERROR:
        return format_html('<p class="errornote">{}</p>', run.summary())
    items = []
    for result in run.results:
        failures = format_html_join("", "<li>{}</li>", ((failure,) for failure in result["failures"]))
        transcript = format_html_join(
            "",
            "<div><b>{}</b> {}</div>",
            ((_("bot:") if line["role"] == "bot" else _("callee:"), line["text"] or "…") for line in result["transcript"]),
        )
        items.append(
            format_html(
                '<details class="skillbase-test {}"><summary><strong style="color: {}">{}</strong> — {} <small>({}: {})</small></summary>'
                '<ul style="margin: 0.3em 0; padding-left: 1.5em">{}</ul><div style="margin: 0.5em 0 1em 1em">{}</div></details>',
                "passed" if result["passed"] else "failed",
                "#2e7d32" if result["passed"] else "#c62828",
                _("passed") if result["passed"] else _("failed"),
                result["name"],
                _("outcome"),
                result["outcome"] or "—",
                failures,
                transcript,
            )
        )
    return format_html("<p>{}</p>{}", test_run_summary(run), format_html_join("", "{}", ((item,) for item in items)))


class SkillbaseTestInline(admin.StackedInline):
    """Edited with the skillbase, by whoever may change it (the organization's roles, not Django's
    per-model permissions)."""

    model = SkillbaseTest
    form = SkillbaseTestForm
    extra = 0

    def _parent(self):
        return self.admin_site.get_model_admin(self.parent_model)

    def has_view_permission(self, request, obj=None):
        return self._parent().has_view_permission(request, obj)

    def has_add_permission(self, request, obj=None):
        return obj is not None and self._parent().has_change_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return obj is not None and self._parent().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return obj is not None and self._parent().has_change_permission(request, obj)

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request.user)

    fields = (
        ("name", "position"),
        "lines",
        ("variables", "timezone", "at"),
        ("outcome", "collected", "not_collected"),
        ("reached", "avoided"),
        ("says", "never_says"),
    )
    verbose_name_plural = _("test conversations (run on every saved version)")


@admin.register(Skillbase)
class SkillbaseAdmin(OrganizationScopedAdmin, ImportExportMixin, admin.ModelAdmin):
    form = SkillbaseForm
    list_display = ("name", "organization", "version", "language", "llm_provider", "step_count", "campaign_count", "updated_at")
    list_filter = (("organization", ScopedRelatedFieldListFilter), LLMProviderFilter, "updated_at")
    list_select_related = ("organization",)
    search_fields = ("name", "description")
    readonly_fields = ("version", "history_link", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("organization", "name", "description", "version", "history_link", "change_note", "editor")}),
        (_("Advanced: the configuration as JSON"), {"fields": SECTIONS, "classes": ("json-editor",)}),
        (_("Dates"), {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )
    inlines = [SkillbaseTestInline, SkillbaseVersionInline]

    resource_classes = [SkillbaseResource]
    import_formats = [SkillbaseJSON]
    export_formats = [JSON]
    import_form_class = SkillbaseImportForm
    confirm_form_class = SkillbaseConfirmImportForm
    # The upload waits in the cache between preview and confirmation: shared by every web
    # process when the cache is Redis, unlike the default temporary folder.
    tmp_storage_class = CacheStorage

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(campaign_count=Count("campaigns"))

    def get_inlines(self, request, obj):
        # Tests are checked against the saved configuration: written once there is one.
        inlines = super().get_inlines(request, obj)
        return inlines if obj is not None else [i for i in inlines if i is not SkillbaseTestInline]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        # Someone who may only look gets no note to write, and the sections indented for reading.
        shown = {"change_note": None, "editor": None, **{section: f"{section}_json" for section in SECTIONS}}
        return [
            (name, {**options, "fields": [shown.get(f, f) for f in options["fields"] if shown.get(f, f)]}) for name, options in fieldsets
        ]

    context_json = _section_display("context", _("context"))
    flow_json = _section_display("flow", _("flow"))
    voice_json = _section_display("voice", _("voice"))
    llm_json = _section_display("llm", _("LLM"))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        form = context["adminform"].form
        editable = obj is None or self.has_change_permission(request, obj)
        builder = form.builder_view() if editable and hasattr(form, "builder_view") else None
        flow = builder.flow if builder is not None else (obj.flow if obj is not None else {})
        context["builder"] = builder
        context["flow_graph"] = flow_graph(flow, title=_("The flow")) if flow else ""
        if obj is not None and (version := obj.current_version) is not None:
            context["flow_calls_url"] = reverse("analytics-flow") + f"?version={version.pk}"
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change):
        update_fields = self.changed_model_fields(obj, form) if change else None
        if change and not update_fields:
            return
        obj.save(author=request.user, note=form.cleaned_data.get("change_note", ""), update_fields=update_fields)

    @admin.display(description=_("language"))
    def language(self, obj) -> str:
        # The voice may speak another language than the context's; see SkillbaseConfig.language.
        return obj.voice.get("language") or obj.context.get("language", "")

    @admin.display(description=_("LLM provider"))
    def llm_provider(self, obj) -> str:
        return obj.llm.get("provider", "flow")

    @admin.display(description=_("steps"))
    def step_count(self, obj) -> int:
        return len(obj.flow.get("steps", []))

    @admin.display(description=_("campaigns"), ordering="campaign_count")
    def campaign_count(self, obj) -> int:
        return obj.campaign_count

    @admin.display(description=_("history"))
    def history_link(self, obj) -> str:
        if obj.pk is None:
            return "-"
        url = reverse("admin:skillbases_skillbaseversion_changelist") + f"?skillbase__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("All %(count)s versions") % {"count": obj.version})

    # Import and export

    def has_import_permission(self, request):
        return self.has_add_permission(request)

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    def _import_organizations(self, request):
        return scope_queryset(Organization.objects.all(), request.user, role=Role.OPERATOR)

    def add_data_read_fail_error_to_form(self, form, e):
        # django-import-export names the exception; the operator needs to know what is wrong with the file.
        form.add_error("import_file", file_problem(e))

    def get_import_form_kwargs(self, request):
        return {**super().get_import_form_kwargs(request), "organizations": self._import_organizations(request)}

    def get_import_form_initial(self, request):
        initial = super().get_import_form_initial(request)
        writable = organizations_for(request, Role.OPERATOR) if not request.user.is_superuser else ()
        if len(writable) == 1:
            initial["organization"] = next(iter(writable))
        return initial

    def get_confirm_form_kwargs(self, request, import_form=None):
        return {**super().get_confirm_form_kwargs(request, import_form), "organizations": self._import_organizations(request)}

    def get_confirm_form_initial(self, request, import_form):
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            initial["organization"] = import_form.cleaned_data["organization"].pk
        return initial

    def get_import_resource_kwargs(self, request, **kwargs):
        form = kwargs.pop("form", None)
        kwargs = super().get_import_resource_kwargs(request, **kwargs)
        cleaned_data = getattr(form, "cleaned_data", {})
        return {**kwargs, "organization": cleaned_data.get("organization"), "author": request.user}

    def process_result(self, result, request):
        if result.has_errors() or result.has_validation_errors():
            # The file changed between preview and confirmation, or the data did: all of it was
            # rolled back, so say that rather than "0 new".
            messages.error(request, _("Nothing was imported: the file no longer passes the checks. Upload it again to see why."))
            return HttpResponseRedirect(reverse("admin:skillbases_skillbase_changelist"))
        return super().process_result(result, request)


@admin.register(SkillbaseVersion)
class SkillbaseVersionAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    """Versions are immutable; rolling back makes a new version from an old one."""

    read_only = True
    list_display = ("skillbase", "version", "name", "author", "note", "created_at")
    list_filter = (("organization", ScopedRelatedFieldListFilter), ("skillbase", ScopedRelatedFieldListFilter))
    list_select_related = ("skillbase", "author")
    search_fields = ("name", "note")
    fields = ("skillbase", "version", "name", "author", "note", "created_at", "test_results", "config_json")
    readonly_fields = fields
    actions = ["roll_back"]

    def has_rollback_permission(self, request, obj=None) -> bool:
        return self.has_role(request, Role.OPERATOR, obj)

    @admin.display(description=_("test conversations"))
    def test_results(self, obj) -> str:
        return format_html('<div id="tests">{}</div>', test_run_details(obj.latest_test_run()))

    @admin.display(description=_("configuration"))
    def config_json(self, obj) -> str:
        return pretty_json(obj.config)

    @admin.action(description=_("Roll back to this version"), permissions=["rollback"])
    def roll_back(self, request, queryset):
        versions = list(queryset.select_related("skillbase")[:2])
        if len(versions) != 1:
            self.message_user(request, _("Choose exactly one version to roll back to."), messages.WARNING)
            return
        self._roll_back(request, versions[0])

    def get_urls(self):
        rollback = path(
            "<path:object_id>/rollback/", self.admin_site.admin_view(self.rollback_view), name="skillbases_skillbaseversion_rollback"
        )
        return [rollback, *super().get_urls()]

    def rollback_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        version = self.get_object(request, unquote(object_id))
        self._roll_back(request, version)
        return redirect("admin:skillbases_skillbase_change", version.skillbase_id)

    def _roll_back(self, request, version: SkillbaseVersion) -> None:
        if not self.has_rollback_permission(request, version):
            raise PermissionDenied
        skillbase = version.skillbase
        before = skillbase.version
        current = skillbase.rollback_to(version.version, author=request.user)
        if current.version == before:
            message = _("%(skillbase)s already has the configuration of version %(version)s.")
            self.message_user(request, message % {"skillbase": skillbase, "version": version.version}, messages.INFO)
        else:
            self.message_user(
                request,
                _("%(skillbase)s rolled back to version %(old)s as new version %(new)s.")
                % {"skillbase": skillbase, "old": version.version, "new": current.version},
                messages.SUCCESS,
            )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["has_rollback_permission"] = self.has_rollback_permission(request, obj)
            context["rollback_url"] = reverse("admin:skillbases_skillbaseversion_rollback", args=[obj.pk])
        return super().render_change_form(request, context, add, change, form_url, obj)
