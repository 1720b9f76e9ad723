"""The documentation builds with warnings as errors, running the example gallery.

Marked ``docs``; skipped when the ``docs`` extra (Sphinx, numpydoc, sphinx-gallery,
the PyData theme, matplotlib) is not installed. Select or deselect it with
``-m docs`` / ``-m "not docs"``.

The build works on a copy of ``docs/``, ``examples/`` and ``benchmarks/results/``, so
that the files the gallery generates never land in the source tree.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS_REQUIREMENTS = ["sphinx", "numpydoc", "sphinx_gallery", "pydata_sphinx_theme",
                     "myst_parser", "matplotlib"]

pytestmark = pytest.mark.docs


def _missing_requirements():
    import importlib.util

    return [name for name in DOCS_REQUIREMENTS
            if importlib.util.find_spec(name) is None]


@pytest.mark.skipif(bool(_missing_requirements()),
                    reason="the docs extra is not installed")
def test_docs_build(tmp_path):
    if not (ROOT / "docs" / "conf.py").exists():
        pytest.skip("no docs/ next to the tests (installed package)")
    source = tmp_path / "src"
    shutil.copytree(ROOT / "docs", source / "docs",
                    ignore=shutil.ignore_patterns("_build", "_generated", "generated",
                                                  "auto_examples", "gen_modules",
                                                  "benchmark_results",
                                                  "sg_execution_times.rst"))
    shutil.copytree(ROOT / "examples", source / "examples")
    (source / "benchmarks").mkdir()
    if (ROOT / "benchmarks" / "results").is_dir():
        shutil.copytree(ROOT / "benchmarks" / "results",
                        source / "benchmarks" / "results")
    else:
        (source / "benchmarks" / "results").mkdir()
    out = tmp_path / "html"
    env = dict(os.environ, MPLBACKEND="Agg")
    # numba's OpenMP threads spin while they wait; on a machine shared with other
    # work that costs the examples several times their run time.
    env.setdefault("OMP_WAIT_POLICY", "passive")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q",
         str(source / "docs"), str(out)],
        cwd=source, env=env, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]

    for page in ("index", "getting_started", "user_guide", "cli", "math", "api",
                 "benchmarks", "changelog", "auto_examples/index",
                 "generated/sksvm.LinearMulticlassSVM",
                 "generated/sksvm.loss_gradient"):
        assert (out / f"{page}.html").is_file(), page
    examples = sorted((ROOT / "examples").glob("plot_*.py"))
    assert len(examples) >= 5
    for example in examples:
        page = out / "auto_examples" / f"{example.stem}.html"
        assert page.is_file(), example.name
        # Every example draws at least one figure.
        assert list((out / "_images").glob(f"sphx_glr_{example.stem}_*.png")), \
            example.name
    # The command-line page shows the current --help of each subcommand.
    cli_page = (out / "cli.html").read_text(encoding="utf-8")
    for command in ("train", "predict", "bench"):
        assert f"sksvm {command} --help" in cli_page

    # Report the examples' running times (sphinx-gallery records them).
    times = {}
    for example in examples:
        rst = (source / "docs" / "auto_examples" / f"{example.stem}.rst").read_text()
        match = re.search(r"\((\d+) minutes ([\d.]+) seconds\)", rst)
        if match:
            times[example.stem] = 60 * int(match[1]) + float(match[2])
    print("example running times (s):", times)
