"""Skillbases as JSON files: export them, import them into an organization.

Each object of the file is one skillbase (name, description and the four config sections as
nested objects). Importing creates or updates by (organization, name), validates every config with
the same schema as every other write path, records a version noted "Imported", and writes nothing
at all when any row is wrong.
"""

import json

from django.utils.translation import gettext as _
from import_export import fields, resources, widgets
from import_export.resources import Diff

from skillbases.models import Skillbase
from skillbases.schemas import SECTIONS

IMPORT_NOTE = "Imported"


class ConfigSectionWidget(widgets.Widget):
    """A config section: a nested object in JSON files (a JSON string is accepted too)."""

    def clean(self, value, row=None, **kwargs):
        if value is None or value == "":
            return {}
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                message = _("This section is text that is not JSON: %(problem)s at line %(line)d, column %(column)d.")
                raise ValueError(message % {"problem": exc.msg, "line": exc.lineno, "column": exc.colno}) from None
        return value

    def render(self, value, obj=None, **kwargs):
        return value


class ConfigDiff(Diff):
    """The import preview's diff of sections as indented JSON rather than Python dict reprs."""

    def __init__(self, resource, instance, new):
        super().__init__(resource, instance, new)
        self.left = [_as_text(value) for value in self.left]

    def compare_with(self, resource, instance):
        super().compare_with(resource, instance)
        self.right = [_as_text(value) for value in self.right]


def _as_text(value):
    return json.dumps(value, ensure_ascii=False, indent=2) if isinstance(value, (dict, list)) else value


def _section_field(section: str) -> fields.Field:
    return fields.Field(attribute=section, column_name=section, widget=ConfigSectionWidget())


class SkillbaseResource(resources.ModelResource):
    name = fields.Field(attribute="name", column_name="name", widget=widgets.CharWidget())
    description = fields.Field(attribute="description", column_name="description", widget=widgets.CharWidget())
    context = _section_field("context")
    flow = _section_field("flow")
    voice = _section_field("voice")
    llm = _section_field("llm")

    class Meta:
        model = Skillbase
        fields = ("name", "description", *SECTIONS)
        import_id_fields = ("name",)
        clean_model_instances = True  # Skillbase.clean() checks the config, errors keyed by section
        use_transactions = True
        skip_unchanged = True
        report_skipped = True

    def __init__(self, *, organization=None, author=None, **kwargs):
        super().__init__(**kwargs)
        self.organization = organization
        self.author = author

    @classmethod
    def get_diff_class(cls):
        return ConfigDiff

    def get_queryset(self):
        # Existing skillbases are matched by name within the chosen organization only.
        return Skillbase.objects.filter(organization=self.organization)

    def init_instance(self, row=None):
        return Skillbase(organization=self.organization)

    def import_data(self, dataset, **kwargs):
        # One bad skillbase must not leave the rest of the file imported without it.
        kwargs.setdefault("rollback_on_validation_errors", True)
        return super().import_data(dataset, **kwargs)

    def before_import(self, dataset, **kwargs):
        if self.organization is None:
            raise ValueError("Choose the organization to import the skillbases into.")
        if self.author is None:
            self.author = kwargs.get("user")

    def do_instance_save(self, instance, is_create):
        instance.save(author=self.author, note=IMPORT_NOTE)

    def after_import(self, dataset, result, **kwargs):
        # ModelResource resets the table's id sequence here, for files that carry ids. Ours never
        # do, and a reset racing another transaction's insert could hand out a used id.
        pass
