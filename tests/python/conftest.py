# SPDX-License-Identifier: MIT
"""Fixtures of the Python module's tests, a watchdog per test, and the
summary line make check reads ("N passed, N failed, N skipped")."""
import faulthandler
import os
import sys

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KERN = os.environ.get("SIMPLER_PYKERN", os.path.join(REPO, "build", "tests", "libpykern.so"))
# no test may hang: past this, every thread's stack is dumped and the run exits (a failure)
TEST_TIMEOUT_S = int(os.environ.get("SIMPLER_PYTEST_TIMEOUT", "180"))
# where the watchdog writes: the runner's stderr (run.sh passes it as fd 3), which
# pytest's capture does not swallow
_WATCH = os.fdopen(int(os.environ["SIMPLER_PYTEST_WATCHDOG_FD"]), "w") \
    if os.environ.get("SIMPLER_PYTEST_WATCHDOG_FD") else sys.stderr


@pytest.fixture(autouse=True)
def watchdog():
    faulthandler.dump_traceback_later(TEST_TIMEOUT_S, exit=True, file=_WATCH)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture(params=["processes", "threads"])
def mode(request):
    """Both modes: chips and subs as processes (forks of this interpreter) or threads."""
    return request.param


@pytest.fixture
def kern():
    """A C kernel of tests/python/kern.c as "path:symbol"."""
    if not os.path.exists(KERN):
        pytest.fail("%s is missing: make python-tests builds it" % KERN)
    return lambda sym: "%s:%s" % (KERN, sym)


def make_worker(mode, **kw):
    import simpler
    return simpler.Worker(threads=(mode == "threads"), **kw)


@pytest.fixture
def worker(mode):
    """A worker of 2 chips and 1 sub in the mode, closed after the test."""
    w = make_worker(mode, chips=2, subs=1)
    yield w
    w.close()


def pytest_terminal_summary(terminalreporter):
    st = terminalreporter.stats
    passed = len(st.get("passed", []))
    failed = len(st.get("failed", [])) + len(st.get("error", []))
    skipped = len(st.get("skipped", []))
    terminalreporter.write_line("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
