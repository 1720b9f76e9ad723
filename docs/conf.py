"""Sphinx configuration of the sksvm documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html`` (the ``docs``
extra installs what it needs). The gallery runs every ``examples/plot_*.py``.
"""

import os
import re
import shutil
from pathlib import Path

import sksvm

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
GENERATED = DOCS / "_generated"

project = "sksvm"
author = "the sksvm developers"
copyright = "the sksvm developers"
release = version = sksvm.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    # MathJax itself, copied into the built site (_static/mathjax/), so that the
    # formulas render with no network: the default loads it from a CDN.
    "sphinx-mathjax-offline",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",  # the Markdown reports in benchmarks/results/
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
# Benchmark reports are generated Markdown: tolerate their heading levels and
# links to files that are not pages.
suppress_warnings = ["myst.header", "myst.xref_missing"]

# Links to the API pages of scikit-learn, NumPy and SciPy. The build runs without
# network access, so the inventories are read from docs/_intersphinx/ (written by
# make_inventories.py there from the installed packages), never downloaded.
intersphinx_mapping = {
    "sklearn": ("https://scikit-learn.org/stable/", "_intersphinx/sklearn.inv"),
    "numpy": ("https://numpy.org/doc/stable/", "_intersphinx/numpy.inv"),
    "scipy": ("https://docs.scipy.org/doc/scipy/", "_intersphinx/scipy.inv"),
}
intersphinx_timeout = 5

templates_path = ["_templates"]
exclude_patterns = ["_build", "_generated", "_intersphinx", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.md5", "**/*.zip"]
root_doc = "index"
default_role = "literal"

autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

html_theme = "pydata_sphinx_theme"
html_title = f"sksvm {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": False,
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_sidebars = {"changelog": [], "benchmarks": []}

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    # The Dask example starts a LocalCluster of worker processes and measures
    # scaling: it is shown, not run, in the gallery (tests/test_examples.py runs
    # it as a script).
    "filename_pattern": r"/plot_(?!dask)",
    "doc_module": ("sksvm",),
    "reference_url": {"sksvm": None},
    "backreferences_dir": "gen_modules/backreferences",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 1,
    "image_scrapers": ("matplotlib",),
}


# -- pages written at build time -------------------------------------------------
def write_cli_help():
    """``sksvm --help`` and each subcommand's help, for the command-line page."""
    os.environ["COLUMNS"] = "88"  # argparse wraps to the terminal width
    from sksvm.cli import build_parser

    parser = build_parser()
    subcommands = parser._subparsers._group_actions[0].choices
    texts = {"sksvm": parser.format_help()}
    texts.update({f"sksvm {name}": sub.format_help()
                  for name, sub in subcommands.items()})
    for name, text in texts.items():
        path = GENERATED / f"help_{name.replace(' ', '_')}.txt"
        path.write_text(f"$ {name} --help\n{text}")


BENCHMARK_RESULTS = ROOT / "benchmarks" / "results"
RESULT_PAGES = DOCS / "benchmark_results"  # generated: a copy of the results
PAGE_SUFFIXES = {".md", ".rst"}
IMAGE_SUFFIXES = {".png", ".svg", ".jpg", ".jpeg"}
SKIPPED_FOLDERS = {"raw"}  # machine-readable dumps behind the reports


DATE = re.compile(r"\b(20\d\d-\d\d-\d\d)")
DATASET_HEADING = re.compile(r"^## ([A-Za-z0-9_-]+): ", re.MULTILINE)


def report_title(path):
    """``(title, date)`` of a report, for its link: the reports of
    ``benchmarks/run.py`` all open with the same heading, so a run is named by its
    kind, its data sets and its date; other reports by their heading and date."""
    text = path.read_text(encoding="utf-8", errors="replace")
    date = DATE.search(text)
    date = date[1] if date else ""
    heading = next((line.lstrip("#").strip() for line in text.splitlines()
                    if line.startswith("# ") or line.startswith("=")), path.stem)
    if path.suffix.lower() == ".rst":
        heading = text.strip().splitlines()[0].strip()
    command = re.search(r"^Command: .*\((full|quick) run\)", text, re.MULTILINE)
    if command:
        datasets = ", ".join(DATASET_HEADING.findall(text)) or "no data set"
        heading = f"{command[1].capitalize()} run: {datasets}"
    if date and date not in heading:
        heading = f"{heading} ({date})"
    # Inline markup in a toctree title is shown literally.
    return heading.replace("`", ""), date


def write_benchmark_results():
    """Publish ``benchmarks/results/``: reports (Markdown or reStructuredText) become
    pages, CSV files tables, and figures no report shows are shown directly."""
    shutil.rmtree(RESULT_PAGES, ignore_errors=True)
    files = sorted(
        path for path in BENCHMARK_RESULTS.rglob("*")
        if path.is_file() and not path.name.startswith(".")
        and not SKIPPED_FOLDERS & set(path.relative_to(BENCHMARK_RESULTS).parts[:-1]))
    for path in files:
        target = RESULT_PAGES / path.relative_to(BENCHMARK_RESULTS)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    relative = [path.relative_to(BENCHMARK_RESULTS) for path in files]
    pages = [name for name in relative if name.suffix.lower() in PAGE_SUFFIXES]
    report_text = "".join((BENCHMARK_RESULTS / name).read_text(encoding="utf-8",
                                                               errors="replace")
                          for name in pages)
    lines = []
    if not files:
        lines += [".. note::", "",
                  "   No benchmark results are in ``benchmarks/results/`` yet. Reports "
                  "(Markdown or reStructuredText), CSV tables and figures added there "
                  "appear here at the next build.", ""]
    if pages:
        titled = sorted(((report_title(BENCHMARK_RESULTS / name), name)
                         for name in pages), reverse=True,
                        # newest first; of one date, the runs, widest first
                        key=lambda item: (item[0][1], item[0][0].endswith(")")
                                          and " run: " in item[0][0],
                                          item[0][0].count(",")))
        lines += [".. toctree::", "   :maxdepth: 1", ""]
        lines += [f"   {title} <benchmark_results/{name.with_suffix('').as_posix()}>"
                  for (title, _), name in titled] + [""]
    for name in relative:
        suffix = name.suffix.lower()
        source = f"/benchmark_results/{name.as_posix()}"
        if suffix == ".csv":
            rows = (BENCHMARK_RESULTS / name).read_text(encoding="utf-8").strip()
            lines += [name.as_posix(), "-" * len(name.as_posix()), "",
                      ".. csv-table::", "   :header-rows: 1", ""]
            lines += [f"   {row}" for row in rows.splitlines()] + [""]
        elif suffix in IMAGE_SUFFIXES and name.name not in report_text:
            lines += [name.as_posix(), "-" * len(name.as_posix()), "",
                      f".. image:: {source}", f"   :alt: {name.stem}", ""]
    (GENERATED / "benchmark_results.rst").write_text("\n".join(lines) + "\n")


GENERATED.mkdir(exist_ok=True)
write_cli_help()
write_benchmark_results()
