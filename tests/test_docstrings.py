"""Public docstrings: numpydoc-valid, and their Examples run as doctests.

The numpydoc checks follow scikit-learn's own docstring test: RT02 (a named single
return value), GL01 and GL02 (blank-line placement) are not enforced, and the
sections ES01 (extended summary), SA01 (See Also) and EX01 (Examples) are required
of the top-level public objects but not of their methods.
"""

import doctest
import importlib
import inspect
import pkgutil

import pytest

import sksvm
import sksvm.cli

numpydoc_validate = pytest.importorskip("numpydoc.validate")

IGNORED_EVERYWHERE = {"RT02", "GL01", "GL02"}
TOP_LEVEL_ONLY = {"ES01", "SA01", "EX01"}


def public_objects():
    """(qualified name, is top level) of every public object of the package."""
    names = []
    for name in sksvm.__all__:
        obj = getattr(sksvm, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        names.append((f"sksvm.{name}", True))
        if inspect.isclass(obj):
            for attribute, member in vars(obj).items():
                if not attribute.startswith("_") and callable(member):
                    names.append((f"sksvm.{name}.{attribute}", False))
    for name in ("main", "build_parser"):
        names.append((f"sksvm.cli.{name}", True))
    return names


PUBLIC = public_objects()

@pytest.mark.parametrize("name, top_level", PUBLIC, ids=[name for name, _ in PUBLIC])
def test_numpydoc_valid(name, top_level):
    result = numpydoc_validate.validate(name)
    errors = [(code, message) for code, message in result["errors"]
              if code not in IGNORED_EVERYWHERE
              and (top_level or code not in TOP_LEVEL_ONLY)]
    assert not errors, "\n".join(f"{name}: {code} {message}"
                                 for code, message in errors)


def test_top_level_objects_have_examples():
    for name, top_level in PUBLIC:
        if top_level:
            obj = eval(name, {"sksvm": sksvm})
            assert "Examples\n" in inspect.getdoc(obj), name


def package_modules():
    """Every module of the package; those needing an optional dependency that is
    not installed are skipped."""
    params = [pytest.param(sksvm, id="sksvm")]
    for info in pkgutil.walk_packages(sksvm.__path__, prefix="sksvm."):
        if info.name == "sksvm.__main__":  # importing it runs the command line
            continue
        try:
            module = importlib.import_module(info.name)
        except ModuleNotFoundError as exc:
            if exc.name is None or exc.name.split(".")[0] == "sksvm":
                raise
            params.append(pytest.param(
                None, id=info.name,
                marks=pytest.mark.skip(reason=f"needs {exc.name}, not installed")))
            continue
        params.append(pytest.param(module, id=info.name))
    return params


@pytest.mark.parametrize("module", package_modules())
def test_doctests(module, tmp_path, monkeypatch):
    """Every docstring example in the package runs and prints what it shows."""
    monkeypatch.chdir(tmp_path)  # examples may name files; keep them here
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS
                                   | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, module.__name__):
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} doctest(s) failed in {module.__name__}"


def test_doctests_cover_public_objects():
    """Each top-level public object has doctest examples (run above, per module)."""
    finder = doctest.DocTestFinder(exclude_empty=True)
    for name, top_level in PUBLIC:
        if top_level:
            obj = eval(name, {"sksvm": sksvm})
            tests = finder.find(obj, name)
            assert any(test.examples for test in tests), name
