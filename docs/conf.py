"""Sphinx configuration of the sksvm documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html`` (the ``docs``
extra installs what it needs). The gallery runs every ``examples/plot_*.py``.
"""

import os
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
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "_generated", "auto_examples/*.ipynb",
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
    "filename_pattern": r"/plot_",
    "doc_module": ("sksvm",),
    "reference_url": {"sksvm": None},
    "backreferences_dir": "gen_modules/backreferences",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 1,
    "image_scrapers": ("matplotlib",),
    # Run two examples at a time: most of their work is single-threaded.
    "parallel": 2,
}


# -- docstring markup ---------------------------------------------------------------
def _fix_docstring_markup(app, what, name, obj, options, lines):
    """Repair two markup slips that docutils rejects, in place.

    - In a raw docstring, a trailing backslash does not join a numpydoc type line
      with the next one, as it does in a plain string; join such lines here.
    - A bare ``n_features_in_`` reads as a hyperlink reference; quote it.
    """
    joined = []
    for line in lines:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1].rstrip() + " " + line.strip()
        else:
            joined.append(line)
    lines[:] = [line.replace("(n_features_in_,)", "(`n_features_in_`,)")
                for line in joined]


def setup(app):
    # Before numpydoc (priority 500) parses the sections.
    app.connect("autodoc-process-docstring", _fix_docstring_markup, priority=100)


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
TABLE_SUFFIXES = {".csv"}
IMAGE_SUFFIXES = {".png", ".svg", ".jpg", ".jpeg"}
TEXT_SUFFIXES = {".md", ".txt", ".json"}


def write_benchmark_results():
    """One section per file of ``benchmarks/results/``: tables, plots and texts."""
    lines = []
    files = sorted(path for path in BENCHMARK_RESULTS.glob("*")
                   if path.is_file() and not path.name.startswith("."))
    if not files:
        lines += [".. note::", "",
                  "   No benchmark results are in ``benchmarks/results/`` yet. Files "
                  "added there (CSV tables, PNG or SVG plots, reStructuredText, "
                  "Markdown or text notes) appear on this page at the next build.",
                  ""]
    copies = GENERATED / "benchmarks"
    copies.mkdir(parents=True, exist_ok=True)
    for path in files:
        suffix = path.suffix.lower()
        if suffix not in TABLE_SUFFIXES | IMAGE_SUFFIXES | TEXT_SUFFIXES | {".rst"}:
            continue
        title = path.name
        lines += [title, "-" * len(title), ""]
        shutil.copy(path, copies / path.name)
        # A leading "/" is the documentation's source folder, whatever page
        # includes this file.
        relative = f"/_generated/benchmarks/{path.name}"
        if suffix == ".csv":
            rows = path.read_text(encoding="utf-8").strip().splitlines()
            lines += [".. csv-table::", "   :header-rows: 1", ""]
            lines += [f"   {row}" for row in rows] + [""]
        elif suffix in IMAGE_SUFFIXES:
            lines += [f".. image:: {relative}", f"   :alt: {path.stem}", ""]
        elif suffix == ".rst":
            lines += [f".. include:: {relative}", ""]
        else:
            lines += [f".. literalinclude:: {relative}", "   :language: none", ""]
    (GENERATED / "benchmark_results.rst").write_text("\n".join(lines) + "\n")


GENERATED.mkdir(exist_ok=True)
write_cli_help()
write_benchmark_results()
