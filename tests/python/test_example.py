# SPDX-License-Identifier: MIT
"""examples/serve.py, the serving pattern, runs and verifies its answers."""
import os
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.parametrize("flags", [[], ["--threads"]])
def test_serving_example(flags):
    r = subprocess.run([sys.executable, os.path.join(REPO, "examples", "serve.py"),
                        "--requests", "12", "--chips", "2"] + flags,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verified: all (12 requests)" in r.stdout
    assert "12 requests" in r.stdout and "2 chips + 1 sub" in r.stdout


def test_bench_runs_both_sides():
    # a smoke run of python3 -m simpler.bench (tiny: it is a benchmark, not a timed test)
    import json
    r = subprocess.run([sys.executable, "-m", "simpler.bench", "-n", "64", "--reps", "1",
                        "--shapes", "indep,stencil4", "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["tasks"] == 64 and set(res["modes"]) == {"threads", "processes"}
    for m in res["modes"].values():
        assert set(m["orchestration"]) == {"indep", "stencil4"}
        for v in m["orchestration"].values():
            assert all(v[k] > 0 for k in ("c_submit", "c_total", "py_submit", "py_total"))
        assert all(x > 0 for x in m["callables"].values())
