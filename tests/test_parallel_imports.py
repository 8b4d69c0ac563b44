"""Several imports of one file into one campaign at once (two operators, a retried upload): each
number becomes one task, the reports add up (imported once, duplicates elsewhere), and no import
fails on the others' rows."""

import io
import threading

import pytest
from django.db import connections

from campaigns.contacts.importing import import_contacts
from campaigns.models import CallTask
from tests.support.engine import make_campaign

ROWS = 1500


def contact_file() -> bytes:
    lines = ["phone,name"] + [f"+7916{n:07d},Contact {n}" for n in range(ROWS)]
    return ("\n".join(lines) + "\n").encode()


def run_in_parallel(campaign, *, atomic: bool, imports: int = 3) -> list:
    data, reports, errors = contact_file(), [], []
    start = threading.Barrier(imports)

    def one():
        try:
            start.wait()
            reports.append(import_contacts(campaign, io.BytesIO(data), "contacts.csv", atomic=atomic))
        except Exception as exc:  # the test's own failure report
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one) for _ in range(imports)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return reports


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("atomic", [True, False], ids=["foreground", "background"])
def test_parallel_imports_of_one_file_count_each_number_once(org, skillbase, atomic):
    campaign = make_campaign(org, skillbase)
    reports = run_in_parallel(campaign, atomic=atomic)
    assert CallTask.objects.filter(campaign=campaign).count() == ROWS
    assert sum(r.imported for r in reports) == ROWS
    assert sum(r.duplicates for r in reports) == ROWS * (len(reports) - 1)
    assert all(r.file_error == "" and r.total == ROWS for r in reports)
