import copy
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from skillbases.schemas import SECTIONS, ConfigError, SkillbaseConfig, validate_config
from skillbases.testing import ConversationTest, validate_test
from tenancy.models import AuditEntry
from tenancy.scoping import OwnedModel


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

    def deletion_problem(self) -> str:
        """Why the skillbase cannot be deleted ("" when it can): campaigns use it, and their calls
        refer to its versions. Every door that deletes asks this first."""
        # Through the reverse relation: campaigns sit above this app, which never imports them.
        used = list(self.campaigns.order_by("name").values_list("name", "status"))
        active = [name for name, state in used if state in ("running", "paused")]
        if active:
            return _("The skillbase is used by running or paused campaigns: %(names)s. Cancel them first.") % {"names": ", ".join(active)}
        if used:
            return _("The skillbase is used by campaigns: %(names)s. Delete those campaigns first; their calls refer to its versions.") % {
                "names": ", ".join(name for name, _state in used)
            }
        return ""

    def config_dict(self) -> dict[str, Any]:
        return {section: getattr(self, section) for section in SECTIONS}

    def parsed_config(self) -> SkillbaseConfig:
        return validate_config(self.config_dict())

    # The config as loaded from the database, to tell an edited copy from a merely stale one.
    _loaded_config: dict[str, Any] | None = None

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        if all(section in field_names for section in SECTIONS):
            # A deep copy: callers edit the JSON in place (skillbase.flow["steps"][0]["say"] = ...).
            instance._loaded_config = copy.deepcopy(instance.config_dict())
        return instance

    def refresh_from_db(self, using=None, fields=None, from_queryset=None) -> None:
        super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)
        if fields is None or set(SECTIONS) <= set(fields):
            self._loaded_config = copy.deepcopy(self.config_dict())

    def clean(self) -> None:
        self._apply_normalised(self._validated_config())

    def _validated_config(self) -> SkillbaseConfig:
        try:
            return self.parsed_config()
        except ConfigError as exc:
            raise ValidationError(exc.by_section()) from None

    def _apply_normalised(self, config: SkillbaseConfig) -> None:
        # Store what was validated, defaults filled in, so a version shows the full behaviour.
        for section in SECTIONS:
            setattr(self, section, getattr(config, section).model_dump(mode="json"))

    @property
    def current_version(self) -> "SkillbaseVersion | None":
        return self.versions.filter(version=self.version).first()

    def save(self, *args, author=None, note: str = "", **kwargs) -> None:
        """Validate the config and, when it changed, record a new version in the same transaction.

        A copy whose config was not edited since it was loaded keeps the stored config, so renaming
        a stale copy cannot silently undo someone else's newer config version.
        """
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and not set(SECTIONS) & set(update_fields):
            super().save(*args, **kwargs)  # e.g. a rename: the config is neither written nor versioned
            return
        edited = self._loaded_config is None or self.config_dict() != self._loaded_config
        with transaction.atomic():
            # Lock the row: two editors saving at once must get versions n+1 and n+2.
            stored = Skillbase.objects.select_for_update().filter(pk=self.pk).values("version", *SECTIONS).first() if self.pk else None
            if stored and not edited:
                for section in SECTIONS:
                    setattr(self, section, stored[section])
            self._apply_normalised(self._validated_config())
            self.version = stored["version"] if stored else 0
            last = self.versions.filter(version=self.version).first() if stored else None
            changed = last is None or last.config != self.config_dict()
            if changed:
                self.version += 1
                if update_fields is not None:
                    # The row must hold exactly what the new version records.
                    kwargs["update_fields"] = {*update_fields, *SECTIONS, "version", "updated_at"}
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
                self._record_version(last, author=author, note=note)
                self.tests_changed()
        self._loaded_config = copy.deepcopy(self.config_dict())

    def tests_changed(self) -> None:
        """The current version's test conversations are run again, on the background worker
        (``skillbases.tasks.run_tests``), once the change is committed: a new version, a test added,
        edited or removed. One queued run per version: it reads the tests as they are when it runs."""
        version = self.current_version
        if version is None or not self.tests.exists() or version.test_runs.filter(status=SkillbaseTestRun.Status.QUEUED).exists():
            return
        run = SkillbaseTestRun.objects.create(organization_id=version.organization_id, version=version)

        def hand_over() -> None:
            from django_q.tasks import async_task

            async_task("skillbases.tasks.run_tests", run.pk, task_name=f"skillbase-tests-{run.pk}")

        transaction.on_commit(hand_over)

    def _record_version(self, previous: "SkillbaseVersion | None", *, author, note: str) -> None:
        """The audit entry of a new version: the version numbers and the sections that changed."""
        config = previous.config if previous else {}
        sections = [section for section in SECTIONS if config.get(section) != getattr(self, section)]
        before = {"version": previous.version, **{s: config[s] for s in sections if s in config}} if previous else {}
        after = {"version": self.version, **{section: getattr(self, section) for section in sections}}
        action = AuditEntry.Action.SKILLBASE_CHANGED if previous else AuditEntry.Action.SKILLBASE_CREATED
        AuditEntry.objects.record(action, self, actor=author, before=before, after=after, reason=note)

    def rollback_to(self, version: int, *, author=None) -> "SkillbaseVersion":
        """Make ``version``'s config current again, as a new version (history is never rewritten)."""
        old = self.versions.get(version=version)
        for section in SECTIONS:
            setattr(self, section, copy.deepcopy(old.config.get(section, {})))
        self._loaded_config = None  # a deliberate edit, even when this copy was loaded at that version
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
        if not self._state.adding:
            raise ValidationError(_("A skillbase version cannot be changed; save the skillbase to make a new one."))
        super().save(*args, **kwargs)

    def parsed_config(self) -> SkillbaseConfig:
        return validate_config(self.config)

    def latest_test_run(self) -> "SkillbaseTestRun | None":
        return self.test_runs.order_by("-pk").first()


class SkillbaseTest(OwnedModel):
    """A test conversation a skillbase carries: callee lines and what must come of them
    (``skillbases.testing``). Every saved version runs them all."""

    skillbase = models.ForeignKey(Skillbase, on_delete=models.CASCADE, related_name="tests", verbose_name=_("skillbase"))
    name = models.CharField(_("name"), max_length=200)
    position = models.PositiveIntegerField(_("position"), default=0)
    # lines, variables, timezone, at, expect: see skillbases.testing.ConversationTest.
    spec = models.JSONField(_("conversation"), default=dict)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("test conversation")
        verbose_name_plural = _("test conversations")
        ordering = ["skillbase", "position", "pk"]
        constraints = [models.UniqueConstraint(fields=["skillbase", "name"], name="skillbasetest_unique_name")]

    def __str__(self) -> str:
        return self.name

    def as_test(self, config: SkillbaseConfig | None = None) -> ConversationTest:
        return validate_test({"name": self.name, **(self.spec or {})}, config)

    def clean(self) -> None:
        if not self.skillbase_id:
            return
        try:
            test = self.as_test(self.skillbase.parsed_config())
        except ConfigError as exc:
            raise ValidationError([str(issue) for issue in exc.issues]) from None
        self.spec = test.model_dump(mode="json", exclude={"name"})

    def save(self, *args, **kwargs) -> None:
        self.organization_id = self.skillbase.organization_id
        with transaction.atomic():
            super().save(*args, **kwargs)
            self.skillbase.tests_changed()

    def delete(self, *args, **kwargs):
        skillbase = self.skillbase
        with transaction.atomic():
            deleted = super().delete(*args, **kwargs)
            skillbase.tests_changed()
        return deleted


class SkillbaseTestRun(OwnedModel):
    """One run of a skillbase's test conversations against one of its versions."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        PASSED = "passed", _("Passed")
        FAILED = "failed", _("Failed")
        ERROR = "error", _("Could not run")

    version = models.ForeignKey(SkillbaseVersion, on_delete=models.CASCADE, related_name="test_runs", verbose_name=_("version"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(_("tests"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    # Per test: name, passed, failures, outcome, steps, collected, transcript and the test as it ran.
    results = models.JSONField(_("results"), default=list, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("queued"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("test run")
        verbose_name_plural = _("test runs")
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.version} tests: {self.get_status_display()}"

    def summary(self) -> str:
        if self.status == self.Status.ERROR:
            return _("could not run: %(error)s") % {"error": self.error}
        if self.status in (self.Status.QUEUED, self.Status.RUNNING):
            return str(self.get_status_display())
        return _("%(passed)d of %(total)d passed") % {"passed": self.total - self.failed, "total": self.total}

    def problems(self) -> list[str]:
        if self.status == self.Status.ERROR:
            return [
                _("The test conversations of version %(version)d could not run: %(error)s")
                % {"version": self.version.version, "error": self.error}
            ]
        if self.status != self.Status.FAILED:
            return []
        lines = [
            _("Test '%(test)s' fails: %(failures)s") % {"test": result["name"], "failures": " ".join(result["failures"])}
            for result in self.results
            if not result["passed"]
        ]
        head = _("%(failed)d of %(total)d test conversations of version %(version)d fail.") % {
            "failed": self.failed,
            "total": self.total,
            "version": self.version.version,
        }
        return [head, *lines]
