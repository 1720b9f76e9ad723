"""The interactive examples (``>>>`` lines) of the documentation pages run and print
what the pages say, e.g. the probabilities section of the user guide."""

import doctest
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(path for path in DOCS.glob("*.rst")
               if ">>> " in path.read_text(encoding="utf-8"))


def test_some_page_has_examples():
    if not DOCS.is_dir():
        pytest.skip("no docs/ next to the tests (installed package)")
    assert any(path.name == "user_guide.rst" for path in PAGES)


@pytest.mark.parametrize("page", PAGES, ids=[path.stem for path in PAGES])
def test_page_examples(page):
    result = doctest.testfile(
        str(page), module_relative=False, verbose=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} failed"
