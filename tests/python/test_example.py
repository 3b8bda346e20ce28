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
