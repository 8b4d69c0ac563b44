import json

from django import forms
from django.utils.translation import gettext_lazy as _
from import_export.forms import ConfirmImportForm, ImportForm

from skillbases.builder import BuilderView, build_sections
from skillbases.models import Skillbase, SkillbaseTest
from skillbases.outcomes import FLOW_OUTCOMES, Outcome
from skillbases.schemas import SECTIONS
from tenancy.admin_scoping import IndentedJSONField, OrganizationScopedForm
from tenancy.models import Organization


class ConfigSectionField(IndentedJSONField):
    """One config section as a JSON object; left empty, the schema fills in every default."""

    def __init__(self, *, rows: int = 12, **kwargs):
        attrs = {"rows": rows, "class": "vLargeTextField", "spellcheck": "false", "style": "font-family: monospace; width: 60em"}
        super().__init__(widget=forms.Textarea(attrs=attrs), empty={}, **kwargs)

    def to_python(self, value):
        if isinstance(value, str) and value.strip():
            try:
                json.loads(value)
            except json.JSONDecodeError as exc:  # where, not only that: "line 12, column 5"
                raise forms.ValidationError(
                    _("Not valid JSON at line %(line)d, column %(column)d: %(problem)s.")
                    % {"line": exc.lineno, "column": exc.colno, "problem": exc.msg},
                    code="invalid",
                ) from None
        return super().to_python(value)


class SkillbaseForm(OrganizationScopedForm):
    context = ConfigSectionField(label=_("context"), rows=14, help_text=_("Who the bot is: role, company, goal, tone, language."))
    flow = ConfigSectionField(label=_("flow"), rows=30, help_text=_("The script: start, steps, intents, fallback, voicemail."))
    voice = ConfigSectionField(label=_("voice"), required=False, help_text=_("Speech providers; empty for the defaults."))
    llm = ConfigSectionField(label=_("LLM"), required=False, rows=8, help_text=_("'flow' (offline) or an OpenAI-compatible provider."))
    change_note = forms.CharField(
        label=_("change note"), max_length=500, required=False, help_text=_("What changed and why; kept with the new version.")
    )
    editor = forms.ChoiceField(
        label=_("edit with"),
        choices=[("builder", _("the flow builder")), ("json", _("JSON (advanced)"))],
        initial="builder",
        required=False,
        widget=forms.RadioSelect(attrs={"class": "skillbase-editor"}),
    )

    class Meta:
        model = Skillbase
        fields = ("organization", "name", "description", *SECTIONS)

    def __init__(self, data=None, *args, **kwargs):
        # A submitted builder becomes the four sections the JSON editor would have sent: the same
        # fields, the same checks, the same new version.
        self.built = None
        if data is not None and data.get("editor", "builder") == "builder" and "flow-start" in data:
            self.built = build_sections(data)
            data = data.copy()
            for section in SECTIONS:
                data[section] = json.dumps(self.built.sections[section], ensure_ascii=False)
        super().__init__(data, *args, **kwargs)

    def builder_view(self) -> BuilderView:
        """The builder laid out with what was submitted (or is saved) and each problem by its step."""
        errors = [str(message) for section in SECTIONS for message in self.errors.get(section, [])] if self.is_bound else []
        if self.built is not None:
            return BuilderView(self.built.sections, errors, self.built.step_rows)
        sections = {}
        for section in SECTIONS:
            value = self.cleaned_data.get(section) if self.is_bound and hasattr(self, "cleaned_data") else None
            sections[section] = value if isinstance(value, dict) else getattr(self.instance, section)
        return BuilderView(sections, errors)

    def _post_clean(self):
        # A section that is not even JSON keeps its old value on the instance; checking the config
        # against that would report problems the user did not type. Fix the JSON first.
        if any(section in self._errors for section in SECTIONS):
            return
        super()._post_clean()


class SkillbaseImportForm(ImportForm):
    organization = forms.ModelChoiceField(queryset=Organization.objects.none(), label=_("organization"))
    field_order = ["organization", "resource", "import_file", "format"]

    def __init__(self, formats, resources, *, organizations, **kwargs):
        super().__init__(formats, resources, **kwargs)
        self.fields["organization"].queryset = organizations


class SkillbaseConfirmImportForm(ConfirmImportForm):
    organization = forms.ModelChoiceField(queryset=Organization.objects.none(), widget=forms.HiddenInput)

    def __init__(self, *, organizations, **kwargs):
        super().__init__(**kwargs)
        self.fields["organization"].queryset = organizations


SILENCE_MARK = "..."


def _rows(text: str) -> list[str]:
    return [row.strip() for row in (text or "").splitlines() if row.strip()]


def _pairs(text: str, label: str) -> dict[str, str]:
    pairs = {}
    for row in _rows(text):
        name, equals, value = row.partition("=")
        if not equals or not name.strip():
            raise forms.ValidationError(_("%(label)s: write each as name = value; “%(row)s” is not.") % {"label": label, "row": row})
        pairs[name.strip()] = value.strip()
    return pairs


def _names(text: str) -> list[str]:
    return [name.strip() for name in (text or "").replace("\n", ",").split(",") if name.strip()]


class SkillbaseTestForm(forms.ModelForm):
    """A test conversation as an operator writes it: one callee line per row ("..." for a silent
    turn), name = value pairs, comma-separated step ids; stored as the spec the API takes."""

    lines = forms.CharField(
        label=_("callee says"),
        widget=forms.Textarea(attrs={"rows": 6, "cols": 60}),
        help_text=_("One turn per row; a row of “...” is the callee saying nothing."),
    )
    variables = forms.CharField(
        label=_("contact's variables"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 40}),
        help_text=_("name = value, one per row."),
    )
    timezone = forms.CharField(label=_("time zone"), required=False, help_text=_("Empty: the skillbase's, else the organization's."))
    at = forms.CharField(label=_("call at"), required=False, help_text=_("YYYY-MM-DD HH:MM on that clock; empty: whenever it runs."))
    outcome = forms.ChoiceField(label=_("expected outcome"), required=False)
    collected = forms.CharField(
        label=_("collects"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 40}),
        help_text=_("field = value (its start, e.g. 2026-12-08T15:00, or nothing for any value), one per row."),
    )
    not_collected = forms.CharField(label=_("does not collect"), required=False, help_text=_("Fields, comma-separated."))
    reached = forms.CharField(label=_("reaches steps"), required=False, help_text=_("Step ids, comma-separated."))
    avoided = forms.CharField(label=_("never reaches steps"), required=False, help_text=_("Step ids, comma-separated."))
    says = forms.CharField(
        label=_("the bot says"), required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), help_text=_("One phrase per row.")
    )
    never_says = forms.CharField(
        label=_("the bot never says"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=_("One phrase per row."),
    )

    class Meta:
        model = SkillbaseTest
        fields = ("name", "position")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["outcome"].choices = [("", _("any"))] + [(value, label) for value, label in Outcome.choices if value in FLOW_OUTCOMES]
        spec = self.instance.spec or {}
        expect = spec.get("expect", {})
        if self.instance.pk:
            self.initial.update(
                lines="\n".join(line or SILENCE_MARK for line in spec.get("lines", [])),
                variables="\n".join(f"{k} = {v}" for k, v in spec.get("variables", {}).items()),
                timezone=spec.get("timezone", ""),
                at=spec.get("at", ""),
                outcome=expect.get("outcome", ""),
                collected="\n".join(f"{k} = {v}" for k, v in expect.get("collected", {}).items()),
                not_collected=", ".join(expect.get("not_collected", [])),
                reached=", ".join(expect.get("reached", [])),
                avoided=", ".join(expect.get("avoided", [])),
                says="\n".join(expect.get("says", [])),
                never_says="\n".join(expect.get("never_says", [])),
            )

    def clean(self):
        data = super().clean()
        try:
            variables = _pairs(data.get("variables", ""), _("contact's variables"))
            collected = _pairs(data.get("collected", ""), _("collects"))
        except forms.ValidationError as exc:
            raise forms.ValidationError(exc.messages) from None
        self.instance.spec = {
            "lines": ["" if row == SILENCE_MARK else row for row in _rows(data.get("lines", ""))],
            "variables": variables,
            "timezone": data.get("timezone", "").strip(),
            "at": data.get("at", "").strip(),
            "expect": {
                "outcome": data.get("outcome", ""),
                "collected": collected,
                "not_collected": _names(data.get("not_collected", "")),
                "reached": _names(data.get("reached", "")),
                "avoided": _names(data.get("avoided", "")),
                "says": _rows(data.get("says", "")),
                "never_says": _rows(data.get("never_says", "")),
            },
        }
        return data
