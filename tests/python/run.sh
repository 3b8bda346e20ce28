#!/bin/bash
# The Python module's tests: Debian's pytest under Debian's python3 (not the
# first python3 on PATH), on the module as make builds it in build/python,
# linked to build/libsimpler.so.  Each test has a watchdog (conftest.py), the
# whole run a bound.  Ends with "N passed, N failed, N skipped".
# Arguments go to pytest (-k NAME, -x, -v...).
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
py=${PYTHON:-/usr/bin/python3}
if ! "$py" -c "import pytest, numpy" 2>/dev/null; then
	echo "# $py lacks pytest or numpy: make deps installs python3-pytest and python3-numpy"
	echo "0 passed, 1 failed"
	exit 1
fi
export PYTHONPATH=$repo/build/python LD_LIBRARY_PATH=$repo/build${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export SIMPLER_PYKERN=$repo/build/tests/libpykern.so PYTHONDONTWRITEBYTECODE=1
# a test past its watchdog dumps every thread's stack here (fd 3: the real stderr)
export SIMPLER_PYTEST_WATCHDOG_FD=3
cd "$repo/tests/python" || exit 1
timeout "${SIMPLER_PYTEST_BOUND:-2400}" "$py" -m pytest -p no:cacheprovider -q -rfEs "$@" 3>&2
rc=$?
[ $rc = 124 ] && echo "# pytest ran past ${SIMPLER_PYTEST_BOUND:-2400} s and was stopped" && echo "0 passed, 1 failed"
exit $rc
