from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from newvoice.tenancy import OwnedModel
from skillbases.schemas import SECTIONS, ConfigError, SkillbaseConfig, validate_config


class Skillbase(OwnedModel):
    """A voice bot: who it is (context), its script (flow), its voice and its LLM.

    ``version`` counts saved configuration changes; each one is kept as an immutable
    ``SkillbaseVersion`` that calls record, so a call can always be traced to the script it ran.
    """

    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    context = models.JSONField(_("context"), default=dict)
    flow = models.JSONField(_("flow"), default=dict)
    voice = models.JSONField(_("voice"), default=dict, blank=True)
    llm = models.JSONField(_("LLM"), default=dict, blank=True)
    version = models.PositiveIntegerField(_("version"), default=0, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("skillbase")
        verbose_name_plural = _("skillbases")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="skillbase_unique_name")]

    def __str__(self) -> str:
        return self.name

    def config_dict(self) -> dict[str, Any]:
        return {section: getattr(self, section) for section in SECTIONS}

    def parsed_config(self) -> SkillbaseConfig:
        return validate_config(self.config_dict())

    def clean(self) -> None:
        try:
            config = self.parsed_config()
        except ConfigError as exc:
            raise ValidationError(exc.by_section()) from None
        self._apply_normalised(config)

    def _apply_normalised(self, config: SkillbaseConfig) -> None:
        # Store what was validated, defaults filled in, so a version shows the full behaviour.
        for section in SECTIONS:
            setattr(self, section, getattr(config, section).model_dump(mode="json"))

    @property
    def current_version(self) -> "SkillbaseVersion | None":
        return self.versions.filter(version=self.version).first()

    def save(self, *args, author=None, note: str = "", **kwargs) -> None:
        """Validate the config and, when it changed, record a new version in the same transaction."""
        try:
            config = self.parsed_config()
        except ConfigError as exc:
            raise ValidationError(exc.by_section()) from None
        self._apply_normalised(config)
        with transaction.atomic():
            if self.pk is not None:
                # Lock the row: two editors saving at once must get versions n+1 and n+2.
                self.version = Skillbase.objects.select_for_update().values_list("version", flat=True).get(pk=self.pk)
            last = None if self.pk is None else self.versions.filter(version=self.version).first()
            changed = last is None or last.config != self.config_dict()
            if changed:
                self.version += 1
            super().save(*args, **kwargs)
            if changed:
                SkillbaseVersion.objects.create(
                    organization_id=self.organization_id,
                    skillbase=self,
                    version=self.version,
                    name=self.name,
                    config=self.config_dict(),
                    author=author,
                    note=note,
                )

    def rollback_to(self, version: int, *, author=None) -> "SkillbaseVersion":
        """Make ``version``'s config current again, as a new version (history is never rewritten)."""
        old = self.versions.get(version=version)
        for section in SECTIONS:
            setattr(self, section, old.config.get(section, {}))
        self.save(author=author, note=f"Rollback to version {version}")
        return self.current_version


class SkillbaseVersion(OwnedModel):
    """An immutable snapshot of a skillbase's configuration as it was saved."""

    skillbase = models.ForeignKey(Skillbase, on_delete=models.CASCADE, related_name="versions", verbose_name=_("skillbase"))
    version = models.PositiveIntegerField(_("version"))
    name = models.CharField(_("name"), max_length=200)
    config = models.JSONField(_("config"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("author")
    )
    note = models.CharField(_("note"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("skillbase version")
        verbose_name_plural = _("skillbase versions")
        ordering = ["skillbase", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["skillbase", "version"], name="skillbaseversion_unique"),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="skillbaseversion_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValidationError(_("A skillbase version cannot be changed; save the skillbase to make a new one."))
        super().save(*args, **kwargs)

    def parsed_config(self) -> SkillbaseConfig:
        return validate_config(self.config)
