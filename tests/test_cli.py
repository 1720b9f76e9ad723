"""The ``sksvm`` command line, on small files written here.

Each behaviour runs end to end through the installed console script (``sksvm``, in
a subprocess): exit status, stdout, stderr, files written. Each subprocess pays the
package's import time, so variations of them (more error cases, other file
layouts) call the same entry point, ``sksvm.cli.main``, in process. Results are
compared with the Python API (and scikit-learn) on the same data. Fits use one
thread (fastest on tiny data) and a fixed seed.
"""

import bz2
import contextlib
import csv
import gzip
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import dump_svmlight_file

from sksvm import LinearMulticlassSVM

from conftest import make_problem

C = 1e-2
SEED = 0
FIT_ARGS = ["--C", str(C), "--threads", "1", "--random-state", str(SEED)]


def reference_model(**params):
    """The Python API's model for FIT_ARGS (plus ``params``)."""
    return LinearMulticlassSVM(**{"C": C, "n_threads": 1, "random_state": SEED,
                                  **params})


def sksvm_script():
    """The installed ``sksvm`` console script: next to this Python, else on PATH."""
    return (shutil.which("sksvm", path=os.path.dirname(sys.executable))
            or shutil.which("sksvm"))


def run(*args, cwd, env=None, expect_ok=True, stdin=None):
    """``sksvm ARGS`` (the console script); returns the CompletedProcess.

    ``env`` entries are added to the environment (``PYTHONPATH`` is prepended to
    the current one); ``stdin`` is a file to read standard input from.
    """
    script = sksvm_script()
    assert script is not None, "the sksvm console script is not installed"
    full_env = dict(os.environ)
    for name, value in (env or {}).items():
        if name == "PYTHONPATH" and os.environ.get(name):
            value = value + os.pathsep + os.environ[name]
        full_env[name] = value
    with open(stdin, "rb") if stdin else contextlib.nullcontext() as handle:
        result = subprocess.run([script, *map(str, args)], cwd=cwd, env=full_env,
                                stdin=handle if stdin else subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=300)
    if expect_ok:
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    return result


def run_in_process(*args, cwd, capsys, monkeypatch):
    """``sksvm ARGS`` through the same entry point, in this process (cheaper)."""
    from sksvm.cli import main

    monkeypatch.chdir(cwd)
    status = main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_line_error(result, *fragments):
    """Non-zero exit, and stderr is one line that names the problem."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sksvm")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def write_libsvm(path, X, y):
    """liblinear's format: 1-based indices, zeros omitted, written by hand."""
    with open(path, "w") as handle:
        for row, label in zip(X, y):
            features = " ".join(f"{j + 1}:{value:.17g}" for j, value in enumerate(row)
                                if value != 0)
            handle.write(f"{label} {features}\n")


@pytest.fixture(scope="module")
def problem():
    X, y = make_problem(n=60, d=4, k=3, seed=5, shift=1.0)
    X[X < 0.5] = 0.0  # some sparsity, so the svmlight files omit entries
    return X, y


@pytest.fixture(scope="module")
def trained(problem, tmp_path_factory):
    """A model trained by the CLI on a liblinear-style file."""
    folder = tmp_path_factory.mktemp("trained")
    X, y = problem
    write_libsvm(folder / "train.svm", X, y)
    result = run("train", "train.svm", "-o", "model.skops", *FIT_ARGS, cwd=folder)
    assert result.stdout == ""
    return folder


def test_train_then_predict_svmlight(problem, trained):
    X, y = problem
    expected = reference_model().fit(X, y).predict(X)

    to_file = run("predict", "train.svm", "model.skops", "-o", "pred.txt", cwd=trained)
    predictions = (trained / "pred.txt").read_text().split()
    assert_array_equal(np.array(predictions, dtype=int), expected)
    accuracy = np.mean(expected == y)
    assert to_file.stdout.strip() == (
        f"accuracy: {accuracy:.4f} ({int(np.sum(expected == y))}/{len(y)})")

    to_stdout = run("predict", "train.svm", "model.skops", cwd=trained)
    assert to_stdout.stdout.split() == predictions
    assert to_stdout.stderr.startswith("accuracy: ")


def test_saved_model_loads_in_python(problem, trained):
    import skops.io as sio

    X, y = problem
    path = trained / "model.skops"
    untrusted = sio.get_untrusted_types(file=str(path))
    assert untrusted == ["sksvm._estimator.LinearMulticlassSVM"]
    model = sio.load(str(path), trusted=untrusted)
    reference = reference_model().fit(X, y)
    assert_array_equal(model.classes_, reference.classes_)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-12, atol=1e-12)
    assert model.C == C


def test_svmlight_fewer_features_are_zeros_more_are_an_error(problem, trained,
                                                            capsys, monkeypatch):
    X, y = problem
    # The last feature is zero in these rows, so the file never mentions it.
    narrow = X.copy()
    narrow[:, -1] = 0.0
    write_libsvm(trained / "narrow.svm", narrow, y)
    status, out, _ = run_in_process("predict", "narrow.svm", "model.skops", "-o",
                                    "narrow.txt", cwd=trained, capsys=capsys,
                                    monkeypatch=monkeypatch)
    assert status == 0 and out.startswith("accuracy:")
    expected = reference_model().fit(X, y).predict(narrow)
    assert_array_equal(np.loadtxt(trained / "narrow.txt", dtype=int), expected)

    wide = np.hstack([X, np.ones((len(y), 2))])
    write_libsvm(trained / "wide.svm", wide, y)
    status, out, err = run_in_process("predict", "wide.svm", "model.skops",
                                      cwd=trained, capsys=capsys,
                                      monkeypatch=monkeypatch)
    assert status == 1 and out == ""
    assert err.strip() == ("sksvm: error: wide.svm has features up to number 6 but "
                           "the model was trained on 4 features")


def test_zero_based_svmlight_is_read_consistently(tmp_path, capsys, monkeypatch):
    """A 0-based file; the prediction file never uses index 0 but lines up."""
    X, y = make_problem(n=45, d=3, k=3, seed=8, shift=1.0)
    dump_svmlight_file(X, y, str(tmp_path / "train.txt"), zero_based=True)
    X_test = X[:6].copy()
    X_test[:, 0] = 0.0
    dump_svmlight_file(X_test, y[:6], str(tmp_path / "test.txt"), zero_based=True)
    for args in (["train", "train.txt", "-o", "model.skops", *FIT_ARGS],
                 ["predict", "test.txt", "model.skops", "-o", "pred.txt"]):
        status, _, err = run_in_process(*args, cwd=tmp_path, capsys=capsys,
                                        monkeypatch=monkeypatch)
        assert status == 0, err
    expected = reference_model().fit(X, y).predict(X_test)
    assert_array_equal(np.loadtxt(tmp_path / "pred.txt", dtype=int), expected)


def test_csv_with_header_string_labels_and_unlabeled_predict(problem, tmp_path,
                                                             capsys, monkeypatch):
    X, y = problem
    names = np.array(["ant", "bee", "cat"])
    with open(tmp_path / "train.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["f1", "f2", "species", "f3", "f4"])
        for row, label in zip(X, names[y]):
            writer.writerow([*row[:2], label, *row[2:]])
    np.savetxt(tmp_path / "new.csv", X[:5], delimiter=",")  # no header, no labels

    verbose = run("train", "train.csv", "-o", "model.skops", *FIT_ARGS,
                  "--label-column", "species", "--verbose", cwd=tmp_path)
    assert "60 samples, 4 features, 3 classes" in verbose.stderr
    assert "[dual_cd] iter" in verbose.stderr  # per-iteration progress (solver "auto")
    assert "saved the model to model.skops" in verbose.stderr
    assert verbose.stdout == ""

    result = run("predict", "new.csv", "model.skops", cwd=tmp_path)
    expected = reference_model().fit(X, names[y]).predict(X[:5])
    assert result.stdout.split() == expected.tolist()
    assert "accuracy" not in result.stdout + result.stderr

    status, out, _ = run_in_process("predict", "train.csv", "model.skops", "-o",
                                    "pred.txt", cwd=tmp_path, capsys=capsys,
                                    monkeypatch=monkeypatch)
    assert status == 0 and out.startswith("accuracy: ")


def test_console_script_is_installed_and_matches_python_m(tmp_path):
    assert sksvm_script() is not None, "the sksvm console script is not installed"
    version = run("--version", cwd=tmp_path).stdout
    module = subprocess.run([sys.executable, "-m", "sksvm", "--version"],
                            capture_output=True, text=True, timeout=300)
    assert module.returncode == 0 and module.stdout == version
    assert version.startswith("sksvm ")


def test_estimator_options(problem, tmp_path):
    X, y = problem
    with open(tmp_path / "data.csv", "w") as handle:
        for row, label in zip(X, y):
            handle.write(",".join(map(repr, [*row.tolist(), int(label)])) + "\n")
    result = run("train", "data.csv", "-o", "m.skops", "--label-column", "-1",
                 "--loss", "squared_hinge", "--solver", "subgradient", "--margin", "2",
                 "--no-intercept", "--max-iter", "50", "--tol", "1e-9", *FIT_ARGS,
                 cwd=tmp_path)
    # 50 epochs do not meet tol=1e-9: reported as one warning line, still success.
    assert result.stderr.startswith("sksvm: warning:")
    assert len(result.stderr.strip().splitlines()) == 1
    from sksvm._io import load_model

    model, _ = load_model(str(tmp_path / "m.skops"))
    assert (model.loss, model.solver, model.margin, model.fit_intercept,
            model.max_iter) == ("squared_hinge", "subgradient", 2.0, False, 50)
    assert np.all(model.intercept_ == 0)


# Error cases. A few run end to end in a subprocess (exit status, no traceback, one
# line on stderr); the rest call the same entry point in process, which is cheaper.
ERROR_CASES = {
    "missing data": (["predict", "absent.svm", "model.skops"], "absent.svm"),
    "malformed svmlight": (["train", "bad.svm", "-o", "x.skops"],
                           "bad.svm:3: malformed svmlight line"),
    "missing model": (["predict", "train.svm", "absent.skops"], "absent.skops"),
    "not a model": (["predict", "train.svm", "train.svm"], "not a model file"),
    "unsorted svmlight": (["train", "unsorted.svm", "-o", "x.skops"],
                          "unsorted.svm:2: malformed svmlight line",
                          "increasing"),
    "malformed csv": (["train", "bad.csv", "-o", "x.skops"],
                      "bad.csv:3: malformed CSV line"),
    "ragged csv": (["train", "ragged.csv", "-o", "x.skops"],
                   "ragged.csv:2: malformed CSV line"),
    "csv feature count": (["predict", "three.csv", "model.skops"],
                          "three.csv has 2 feature columns", "4 features"),
    "one class": (["train", "one.svm", "-o", "x.skops"], "one class"),
    "unwritable output": (["train", "train.svm", "-o", "no/such/dir/m.skops",
                           *FIT_ARGS], "no/such/dir/m.skops"),
}
SUBPROCESS_ERROR_CASES = ["missing data", "malformed svmlight"]


@pytest.fixture(scope="module")
def broken_files(trained):
    (trained / "bad.svm").write_text("1 1:0.5 2:1\n2 2:1\n3 1:0.5 2:abc\n")
    (trained / "unsorted.svm").write_text("1 1:0.5\n2 3:1 2:0.5\n")
    (trained / "bad.csv").write_text("a,b,label\n1,2,0\n3,x,1\n")
    (trained / "ragged.csv").write_text("1,2,0\n3,4\n")
    (trained / "three.csv").write_text("0,1.5,2\n1,0.5,1\n")
    (trained / "one.svm").write_text("1 1:0.5\n1 2:0.25\n")
    return trained


@pytest.mark.parametrize("case", SUBPROCESS_ERROR_CASES)
def test_errors_are_one_line_and_nonzero(case, broken_files):
    args, *fragments = ERROR_CASES[case]
    result = run(*args, cwd=broken_files, expect_ok=False)
    assert result.returncode == 1
    assert_one_line_error(result, *fragments)


@pytest.mark.parametrize("case", [case for case in ERROR_CASES
                                  if case not in SUBPROCESS_ERROR_CASES])
def test_errors_in_process(case, broken_files, monkeypatch, capsys):
    from sksvm.cli import main

    monkeypatch.chdir(broken_files)
    args, *fragments = ERROR_CASES[case]
    status = main(args)
    captured = capsys.readouterr()
    assert status == 1
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sksvm: error: "), captured.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_usage_error(tmp_path):
    result = run("train", "data.svm", "--C", "-1", "-o", "m.skops", cwd=tmp_path,
                 expect_ok=False)
    assert result.returncode == 2
    assert_one_line_error(result, "--C", "must be > 0")


def test_untrusted_model_is_refused_without_running_its_code(trained, tmp_path,
                                                            monkeypatch):
    """A model file with a foreign type is refused before anything is built."""
    (tmp_path / "payload.py").write_text(textwrap.dedent("""
        class Payload:
            def __init__(self, marker):
                self.marker = marker

            def __setstate__(self, state):
                open(state["marker"], "w").write("code from the model file ran")
                self.__dict__.update(state)
    """))
    marker = tmp_path / "marker"
    monkeypatch.syspath_prepend(str(tmp_path))
    import skops.io as sio
    from payload import Payload

    from sksvm._io import load_model

    model, _ = load_model(str(trained / "model.skops"))
    model.extra_ = Payload(str(marker))
    sio.dump(model, str(tmp_path / "evil.skops"))
    assert not marker.exists()
    # The payload's module is importable, so only the refusal keeps it from running.
    result = run("predict", trained / "train.svm", "evil.skops", cwd=tmp_path,
                 env={"PYTHONPATH": str(tmp_path)}, expect_ok=False)
    assert_one_line_error(result, "refusing to load evil.skops", "payload.Payload")
    assert not marker.exists()
    # The test is meaningful: trusting every type would have run the payload.
    sio.load(str(tmp_path / "evil.skops"),
             trusted=sio.get_untrusted_types(file=str(tmp_path / "evil.skops")))
    assert marker.exists()


def test_bench_help(capsys):
    from sksvm.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--help"])
    assert exit_info.value.code == 0
    assert "LinearSVC" in capsys.readouterr().out


@pytest.mark.slow
def test_bench_runs(tmp_path):
    result = run("bench", cwd=tmp_path)
    assert "LinearMulticlassSVM" in result.stdout and "LinearSVC" in result.stdout
    assert result.stderr == ""


# -- the readers, in process (cheap) -------------------------------------------------
def test_svmlight_line_checks():
    from sksvm._io import _svmlight_line_problem

    assert _svmlight_line_problem("1 1:0.5 3:2 # comment\n") is None
    assert _svmlight_line_problem("-1 qid:3 2:1e-3\n") is None
    assert _svmlight_line_problem("   \n") is None
    assert "label" in _svmlight_line_problem("cat 1:0.5")
    assert "increasing" in _svmlight_line_problem("1 3:1 2:1")
    assert "index:value" in _svmlight_line_problem("1 3")
    assert "not a number" in _svmlight_line_problem("1 3:x")


def test_csv_header_and_labels(tmp_path):
    from sksvm._io import DataError, read_data

    path = tmp_path / "data.csv"
    path.write_text("cat,1.5,2\ndog,0.5,1\n")  # string labels, no header
    data = read_data(str(path), label_column="0")
    assert data.X.shape == (2, 2) and data.y.tolist() == ["cat", "dog"]
    assert data.layout == {"format": "csv", "label_column": 0}

    path.write_text("x1,x2,target\n1,2,3\n4,5,6\n")
    data = read_data(str(path))
    assert data.y.tolist() == [3, 6] and data.layout["label_column"] == "target"
    # A prediction file without the label column: features only.
    path.write_text("x1,x2\n1,2\n")
    data = read_data(str(path), label_column="target", n_features=2)
    assert data.y is None and data.X.tolist() == [[1.0, 2.0]]

    path.write_text("0,1,0\n1,nan,0\n")
    with pytest.raises(DataError, match=r"data.csv:2: features must be finite"):
        read_data(str(path), label_column="-1")
