"""Whether the suite runs in CI (``CI=true``, as .ci/run sets it): parts a test needs that are not
installed then fail the test instead of skipping it."""

import os


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
