"""Running a skillbase's test conversations: queued on every saved version (``Skillbase.tests_changed``;
the django-q2 worker runs them here), or at once when a campaign is about to start on a version not
yet tested.

The conversations themselves are held by the agent, above this app: the runner is named in
``settings.SKILLBASE_TEST_RUNNER`` and takes (config, tests, default timezone), returning a
``skillbases.testing.Run`` per test, in order."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from skillbases.config_errors import ConfigError
from skillbases.models import SkillbaseTest, SkillbaseTestRun
from skillbases.testing import judge

logger = logging.getLogger(__name__)


def failing_tests(version) -> list[str]:
    """Why ``version``'s test conversations stop a campaign from starting (empty when they pass,
    or the skillbase has none). Tests not run yet on this version run now: they take seconds."""
    if not version.skillbase.tests.exists():
        return []
    run = version.latest_test_run()
    if run is None or run.status in (SkillbaseTestRun.Status.QUEUED, SkillbaseTestRun.Status.RUNNING):
        run = run_tests_now(version)
    return run.problems()


def run_tests(run_id: int) -> None:
    """The worker's task: run a queued run (one already taken or finished is left alone)."""
    taken = SkillbaseTestRun.objects.filter(pk=run_id, status=SkillbaseTestRun.Status.QUEUED).update(status=SkillbaseTestRun.Status.RUNNING)
    if taken:
        _run(SkillbaseTestRun.objects.select_related("version__skillbase__organization").get(pk=run_id))


def run_tests_now(version):
    """Run ``version``'s tests in this process, whatever is queued, and return the run."""
    queued = version.test_runs.filter(status=SkillbaseTestRun.Status.QUEUED).order_by("-pk").first()
    if queued is not None and SkillbaseTestRun.objects.filter(pk=queued.pk, status=SkillbaseTestRun.Status.QUEUED).update(
        status=SkillbaseTestRun.Status.RUNNING
    ):
        run = SkillbaseTestRun.objects.get(pk=queued.pk)  # taken here: the worker leaves it alone
    else:
        run = SkillbaseTestRun.objects.create(
            organization_id=version.organization_id, version=version, status=SkillbaseTestRun.Status.RUNNING
        )
    return _run(run)


def _run(run):
    version = run.version
    skillbase = version.skillbase
    rows = list(skillbase.tests.order_by("position", "pk"))
    results, error = [], ""
    try:
        config = version.parsed_config()
        tests = [row.as_test(config) for row in rows]
        runner = import_string(settings.SKILLBASE_TEST_RUNNER)
        runs = runner(config, tests, default_timezone=skillbase.organization.timezone or settings.TIME_ZONE) if tests else []
        for test, outcome in zip(tests, runs, strict=True):
            failures = judge(test, outcome)
            results.append(
                {
                    "name": test.name,
                    "passed": not failures,
                    "failures": failures,
                    "outcome": outcome.outcome,
                    "steps": outcome.steps,
                    "collected": outcome.collected,
                    "transcript": outcome.transcript,
                    "test": test.model_dump(mode="json"),
                }
            )
    except ConfigError as exc:
        error = f"a test no longer fits this version: {exc}"
    except Exception as exc:  # a provider without its key, a runner that broke: shown, never hidden
        logger.exception("The tests of %s could not run", version)
        error = f"{type(exc).__name__}: {exc}"
    failed = sum(not result["passed"] for result in results)
    if error:
        status = SkillbaseTestRun.Status.ERROR
    else:
        status = SkillbaseTestRun.Status.FAILED if failed else SkillbaseTestRun.Status.PASSED
    run.status, run.results, run.error = status, results, error
    run.total, run.failed, run.finished_at = len(results) if not error else len(rows), failed, timezone.now()
    run.save(update_fields=["status", "results", "error", "total", "failed", "finished_at"])
    return run


def replace_tests(skillbase, tests) -> None:
    """Make ``tests`` (validated ConversationTests) the skillbase's whole set, in one transaction."""
    with transaction.atomic():
        skillbase.tests.all().delete()
        SkillbaseTest.objects.bulk_create(
            SkillbaseTest(
                organization_id=skillbase.organization_id,
                skillbase=skillbase,
                name=test.name,
                position=position,
                spec=test.model_dump(mode="json", exclude={"name"}),
            )
            for position, test in enumerate(tests)
        )
        skillbase.tests_changed()
