from django import forms
from django.utils.translation import gettext_lazy as _
from import_export.forms import ConfirmImportForm, ImportForm

from skillbases.models import Skillbase
from skillbases.schemas import SECTIONS
from tenancy.admin_scoping import IndentedJSONField, OrganizationScopedForm
from tenancy.models import Organization


class ConfigSectionField(IndentedJSONField):
    """One config section as a JSON object; left empty, the schema fills in every default."""

    def __init__(self, *, rows: int = 12, **kwargs):
        attrs = {"rows": rows, "class": "vLargeTextField", "spellcheck": "false", "style": "font-family: monospace; width: 60em"}
        super().__init__(widget=forms.Textarea(attrs=attrs), empty={}, **kwargs)


class SkillbaseForm(OrganizationScopedForm):
    context = ConfigSectionField(label=_("context"), rows=14, help_text=_("Who the bot is: role, company, goal, tone, language."))
    flow = ConfigSectionField(label=_("flow"), rows=30, help_text=_("The script: start, steps, intents, fallback, voicemail."))
    voice = ConfigSectionField(label=_("voice"), required=False, help_text=_("Speech providers; empty for the defaults."))
    llm = ConfigSectionField(label=_("LLM"), required=False, rows=8, help_text=_("'flow' (offline) or an OpenAI-compatible provider."))
    change_note = forms.CharField(
        label=_("change note"), max_length=500, required=False, help_text=_("What changed and why; kept with the new version.")
    )

    class Meta:
        model = Skillbase
        fields = ("organization", "name", "description", *SECTIONS)

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
