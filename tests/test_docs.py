"""The documentation builds with warnings as errors, running the example gallery.

Marked ``docs``; skipped when the ``docs`` extra (Sphinx, numpydoc, sphinx-gallery,
the PyData theme, matplotlib) is not installed. Select or deselect it with
``-m docs`` / ``-m "not docs"``.

The build works on a copy of ``docs/``, ``examples/`` and ``benchmarks/results/``, so
that the files the gallery generates never land in the source tree. One build serves
every test here: the pages and the gallery, the links to scikit-learn's, NumPy's and
SciPy's documentation (read from the inventories in ``docs/_intersphinx/``, since
the build has no network), and the formulas, which a headless Chromium with no
network access must find rendered by the MathJax copy shipped in the site (skipped
when no Chromium is installed).
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
                     "myst_parser", "matplotlib",
                     # MathJax for the built site (the extension's module name
                     # has hyphens)
                     "sphinx-mathjax-offline"]

pytestmark = pytest.mark.docs


def _missing_requirements():
    import importlib.util

    return [name for name in DOCS_REQUIREMENTS
            if importlib.util.find_spec(name) is None]


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    """Build the documentation once, with ``-W``; return (source, html)."""
    missing = _missing_requirements()
    if missing:
        pytest.skip(f"the docs extra is not installed (missing {missing})")
    if not (ROOT / "docs" / "conf.py").exists():
        pytest.skip("no docs/ next to the tests (installed package)")
    tmp = tmp_path_factory.mktemp("docs")
    source = tmp / "src"
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
    out = tmp / "html"
    env = dict(os.environ, MPLBACKEND="Agg")
    # numba's OpenMP threads spin while they wait; on a machine shared with other
    # work that costs the examples several times their run time.
    env.setdefault("OMP_WAIT_POLICY", "passive")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q",
         str(source / "docs"), str(out)],
        cwd=source, env=env, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]

    return source, out


def test_docs_build(built_site):
    source, out = built_site
    for page in ("index", "getting_started", "user_guide", "migration", "cli", "math",
                 "api",
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


def test_links_to_scikit_learn_numpy_and_scipy(built_site):
    """intersphinx resolves against the shipped inventories, to the online pages."""
    _, out = built_site
    expected = {
        "migration": ["https://scikit-learn.org/stable/modules/generated/"
                      "sklearn.svm.LinearSVC.html#sklearn.svm.LinearSVC"],
        "user_guide": [
            "https://scikit-learn.org/stable/modules/generated/"
            "sklearn.calibration.CalibratedClassifierCV.html"
            "#sklearn.calibration.CalibratedClassifierCV",
            "https://scikit-learn.org/stable/modules/calibration.html#calibration",
            "https://numpy.org/doc/stable/reference/generated/numpy.ndarray.html"
            "#numpy.ndarray",
            "https://docs.scipy.org/doc/scipy/reference/generated/"
            "scipy.sparse.csr_matrix.html#scipy.sparse.csr_matrix",
        ],
        # sphinx-gallery links the names in the examples' code the same way.
        "auto_examples/plot_text_pipeline": [
            "https://scikit-learn.org/stable/modules/generated/"
            "sklearn.feature_extraction.text.TfidfVectorizer.html"],
    }
    for page, links in expected.items():
        html = (out / f"{page}.html").read_text(encoding="utf-8")
        for link in links:
            assert f'href="{link}' in html, (page, link)


# -- the formulas, rendered in a browser with no network --------------------------
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
# TeX commands that the front page and the math page use: after MathJax has run,
# none of them may be left in the text of the page.
RAW_TEX = re.compile(r"\\(frac|sum|lVert|mathbb|delta|ell|max|top)\b|\\[(\[]")


def _chromium():
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _rendered_dom(chromium, page, profile):
    """The DOM of ``page`` once its scripts have run, in a headless Chromium cut off
    from the network: every host name resolves to nothing and every request goes
    to a closed local port, so only the files of the site itself can load."""
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-extensions",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
        # Let the page's scripts (MathJax typesets asynchronously) finish.
        "--virtual-time-budget=20000",
        "--dump-dom", page.as_uri()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _visible_text(html):
    html = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", html)
    return re.sub(r"(?s)<[^>]+>", " ", html)


@pytest.mark.parametrize("page", ["index", "math"])
def test_math_renders_offline(built_site, page, tmp_path):
    _, out = built_site
    path = out / f"{page}.html"
    source = path.read_text(encoding="utf-8")
    # MathJax is part of the site, not fetched from elsewhere...
    scripts = re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', source, re.I)
    assert scripts, "no MathJax script on the page"
    for src in scripts:
        assert "://" not in src, src
        assert (path.parent / src.split("?")[0]).is_file(), src
    # ...and the page as written holds raw TeX for it to typeset.
    assert RAW_TEX.search(_visible_text(source))

    chromium = _chromium()
    if chromium is None:
        pytest.skip("no Chromium to render the page (apt-get install chromium)")
    dom = _rendered_dom(chromium, path, tmp_path / "profile")
    rendered = re.findall(r"<mjx-container\b", dom)
    assert rendered, "MathJax rendered nothing"
    # Every formula of the page was typeset: as many containers as math elements.
    n_math = len(re.findall(r'class="math[ "]', source))
    assert len(rendered) >= n_math, (len(rendered), n_math)
    leftover = RAW_TEX.search(_visible_text(dom))
    assert leftover is None, dom[max(0, leftover.start() - 200):leftover.end() + 200]
    assert "<mjx-merror" not in dom
    print(f"{page}.html: {len(rendered)} formulas rendered by MathJax, no raw TeX left")
