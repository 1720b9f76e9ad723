"""The gallery examples run as plain scripts (slow: run with ``-m slow``).

The docs build runs them too (tests/test_docs.py); this checks that each one also
works outside Sphinx, within about a minute, and that the Fashion-MNIST part of the
comparison skips cleanly with a note when the data set is absent.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples")
                  .glob("plot_*.py"))

pytestmark = pytest.mark.slow


def run_example(path, tmp_path, **env):
    pytest.importorskip("matplotlib")
    full_env = dict(os.environ, MPLBACKEND="Agg", **env)
    full_env.setdefault("OMP_WAIT_POLICY", "passive")
    start = time.perf_counter()
    result = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=full_env,
                            capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr[-3000:]
    return result, elapsed


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_runs(path, tmp_path):
    _, elapsed = run_example(path, tmp_path)
    assert elapsed < 90, f"{path.name} took {elapsed:.0f} s"


def test_fashion_mnist_part_skips_without_the_data(tmp_path):
    path = next(path for path in EXAMPLES if path.stem == "plot_compare_linearsvc")
    result, _ = run_example(path, tmp_path,
                            FASHION_MNIST_DIR=str(tmp_path / "absent"))
    assert "Fashion-MNIST was not found" in result.stdout
    assert "skipped" in result.stdout
