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
import scipy.sparse as sp
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
    assert "[newton] iter" in verbose.stderr  # per-iteration progress (solver "auto")
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
    assert "digits" in result.stdout and "generated Gaussian blobs" in result.stdout
    assert result.stdout.count("fit time ratio") == 2
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


# -- start-up: --help imports neither numba nor scikit-learn -------------------------
@pytest.mark.parametrize("args", [["--help"], ["train", "--help"]],
                         ids=["sksvm", "sksvm train"])
def test_help_imports_neither_numba_nor_sklearn(args, tmp_path):
    result = run(*args, cwd=tmp_path, env={"PYTHONPROFILEIMPORTTIME": "1"})
    # One "import time: self | cumulative | module" line per imported module.
    imported = {line.rsplit("|", 1)[-1].strip()
                for line in result.stderr.splitlines() if line.startswith("import time")}
    assert "sksvm.cli" in imported  # the check sees the package's own imports
    heavy = sorted(name for name in imported
                   if name.split(".")[0] in ("numba", "sklearn", "scipy"))
    assert heavy == []
    if args[0] == "train":
        assert "--liblinear-c" in result.stdout and "0.0001" in result.stdout


def test_defaults_match_the_estimator():
    """``sksvm._defaults`` is what the estimator's constructor and checks say."""
    import inspect

    from sksvm._defaults import DEFAULTS, LOSSES, SOLVERS

    signature = inspect.signature(LinearMulticlassSVM)
    assert {name: parameter.default for name, parameter
            in signature.parameters.items()} == DEFAULTS
    constraints = LinearMulticlassSVM._parameter_constraints
    assert set(LOSSES) == constraints["loss"][0].options
    assert set(SOLVERS) == constraints["solver"][0].options


# -- which column holds the labels --------------------------------------------------
@pytest.fixture(scope="module")
def unnamed_label_last(tmp_path_factory):
    """No header, labels (3 classes) in the LAST column: files whose first column
    must not be taken for the labels."""
    folder = tmp_path_factory.mktemp("unnamed")
    rng = np.random.RandomState(0)
    y = np.arange(60) % 3
    pixels = rng.randint(0, 17, size=(60, 4))  # integers: 17 distinct values
    np.savetxt(folder / "pixels.csv", np.column_stack([pixels, y]), delimiter=",",
               fmt="%d")
    measures = rng.randn(60, 3)  # non-integer numbers
    np.savetxt(folder / "measures.csv", np.column_stack([measures, y]),
               delimiter=",", fmt="%.17g")
    return folder


@pytest.mark.parametrize("name, problem_text", [
    ("pixels.csv", "holds 17 distinct values in 60 rows (more than 10%)"),
    ("measures.csv", "holds numbers that are not integers")])
def test_guessed_label_column_that_looks_like_a_feature_is_refused(
        name, problem_text, unnamed_label_last):
    folder = unnamed_label_last
    result = run("train", name, cwd=folder, expect_ok=False)
    assert result.returncode == 1
    assert_one_line_error(result, f"{name}: no column is named or marked as the "
                                  "label", "column 1", problem_text, "--label-column")
    assert not (folder / f"{name}.skops").exists()
    assert list(folder.glob("*.skops")) == []


def test_marked_label_column_is_read(unnamed_label_last):
    from sksvm._io import read_data

    data = read_data(str(unnamed_label_last / "pixels.csv"), label_column="-1")
    assert data.y.tolist() == (np.arange(60) % 3).tolist()
    assert data.X.shape == (60, 4)


def test_guessed_label_rule():
    from sksvm._io import guessed_label_problem

    assert guessed_label_problem(np.arange(20) % 2) is None  # 2 values in 20 rows
    assert guessed_label_problem(np.array(["a", "b"] * 10)) is None
    assert guessed_label_problem(np.arange(20) % 3) is not None  # 3 > 10% of 20
    assert guessed_label_problem(np.array([0.0, 1.0] * 10)) is None
    assert "not integers" in guessed_label_problem(np.array([0.5, 1.0] * 10))


# -- CSV headers: pandas' default numeric column names, byte order marks -------------
@pytest.fixture(scope="module")
def string_label_table():
    """20 samples, 3 features, string labels, as a pandas DataFrame."""
    pd = pytest.importorskip("pandas")
    X, y = make_problem(n=20, d=3, k=3, seed=11, shift=1.0)
    labels = np.array(["ant", "bee", "cat"])[y]
    return pd.DataFrame(X), labels


def assert_model_fits(path, X, labels):
    """The CLI's model at ``path`` is the Python API's fit of X, labels."""
    from sksvm._io import load_model

    model, _ = load_model(str(path))
    reference = reference_model().fit(X, labels)
    assert model.classes_.tolist() == reference.classes_.tolist()
    assert model.n_features_in_ == X.shape[1]
    assert_allclose(model.coef_, reference.coef_, rtol=1e-10, atol=1e-12)


def test_csv_pandas_header_with_numeric_names_is_not_a_sample(string_label_table,
                                                              tmp_path):
    """pandas' default layout: header ``label,0,1,2`` over string labels.

    Trained without -o, the model goes to DATA.skops."""
    frame, labels = string_label_table
    frame = frame.copy()
    frame.insert(0, "label", labels)
    frame.to_csv(tmp_path / "train.csv", index=False)
    assert (tmp_path / "train.csv").read_text().startswith("label,0,1,2\n")

    run("train", "train.csv", *FIT_ARGS, cwd=tmp_path)
    assert_model_fits(tmp_path / "train.csv.skops", frame.iloc[:, 1:].to_numpy(),
                      labels)
    result = run("predict", "train.csv", "train.csv.skops", cwd=tmp_path)
    expected = reference_model().fit(frame.iloc[:, 1:].to_numpy(), labels)
    predictions = expected.predict(frame.iloc[:, 1:].to_numpy())
    assert result.stdout.split() == predictions.tolist()
    correct = int(np.sum(predictions == labels))
    assert result.stderr.strip() == f"accuracy: {correct / 20:.4f} ({correct}/20)"


def test_csv_numeric_names_then_label_column(string_label_table, tmp_path):
    """Header ``0,1,2,label`` over string labels: the label column is found by
    name (it used to fail with "'label' ... is not a number")."""
    frame, labels = string_label_table
    frame = frame.copy()
    frame["label"] = labels
    frame.to_csv(tmp_path / "train.csv", index=False)
    assert (tmp_path / "train.csv").read_text().startswith("0,1,2,label\n")
    run("train", "train.csv", "-o", "model.skops", *FIT_ARGS, cwd=tmp_path)
    assert_model_fits(tmp_path / "model.skops", frame.iloc[:, :3].to_numpy(), labels)


def test_csv_byte_order_mark_is_not_part_of_the_first_name(string_label_table,
                                                          tmp_path):
    """Excel's UTF-8 files start with a byte order mark; the first column is still
    called ``label``, and a file without the mark lines up with the model."""
    frame, labels = string_label_table
    frame = frame.set_axis(["a", "b", "c"], axis=1)
    frame.insert(0, "label", labels)
    frame.to_csv(tmp_path / "excel.csv", index=False, encoding="utf-8-sig")
    frame.to_csv(tmp_path / "plain.csv", index=False)
    assert (tmp_path / "excel.csv").read_bytes().startswith(b"\xef\xbb\xbflabel,")
    run("train", "excel.csv", "-o", "model.skops", "--label-column", "label",
        *FIT_ARGS, cwd=tmp_path)
    assert_model_fits(tmp_path / "model.skops", frame.iloc[:, 1:].to_numpy(), labels)
    from sksvm._io import load_model

    assert load_model(str(tmp_path / "model.skops"))[1]["label_column"] == "label"
    result = run("predict", "plain.csv", "model.skops", cwd=tmp_path)
    assert result.stderr.startswith("accuracy: ")


@pytest.mark.parametrize("text, is_header", [
    ("label,0,1,2\ncat,0.5,1,2\ndog,1.5,2,3\n", True),      # pandas, label first
    ("0,1,2,label\n0.5,1,2,cat\n1.5,2,3,dog\n", True),      # pandas, label last
    ("species,0,1\ncat,0.5,1\ndog,1.5,2\n", True),          # column numbers 0, 1
    ("species,f1,f2\ncat,0.5,1\ndog,1.5,2\n", True),        # names over numbers
    ("cat,0.5,1\ndog,1.5,2\n", False),                      # data
    ("cat,0,1\ncat,1.5,2\n", False),                        # 'cat' occurs again
    ("label,a,b\n", True),                                  # a header alone
    ("0,1,2,3\n1,0.5,1,2\n0,1.5,2,3\n", True),              # pandas, all numeric
    ("0,1,2\n1,0.5,1\n0,1.5,2\n", True),                    # ... non-integer data
    ("0,1,2\n1,5,1\n0,1,2\n", False),                       # ... or a sample?
    ("species,1,2\ncat,0.5,1\ndog,1.5,2\n", False),         # 1, 2: not pandas' names
])
def test_csv_header_detection(text, is_header):
    from sksvm._io import csv_header

    records = [(number, row.split(",")) for number, row
               in enumerate(text.splitlines(), start=1)]
    assert (csv_header(records) is not None) == is_header


def test_csv_reader_details(tmp_path):
    """Blank and whitespace lines are skipped, quotes and CRLF are understood, and
    malformed lines are located after the fast reader fails."""
    from sksvm._io import DataError, read_data

    path = tmp_path / "data.csv"
    path.write_bytes(b'name,x1,x2\r\n"a b",1,2\r\n\r\n   \r\n"c",3,4.5\r\n')
    data = read_data(str(path), label_column="name")
    assert data.y.tolist() == ["a b", "c"]
    assert data.X.tolist() == [[1.0, 2.0], [3.0, 4.5]]
    path.write_text("y,x1\n1,2\n\n,3\n")
    with pytest.raises(DataError, match=r"data.csv:4: malformed CSV line: the label "
                                        r"is empty"):
        read_data(str(path))
    path.write_text("y,x1,x2\n1,2,3\n2,3,4,5\n")
    with pytest.raises(DataError, match=r"data.csv:3: malformed CSV line: 4 fields"):
        read_data(str(path))
    # Labels in an unnamed column: the message says the first column was guessed.
    path.write_text("a,b,species\n1.5,2,cat\n2.5,3,dog\n")
    with pytest.raises(DataError, match=r"data.csv:2: malformed CSV line: 'cat' in "
                                        r"column 3 \('species'\) is not a number \(the "
                                        r"labels were guessed .*--label-column\)"):
        read_data(str(path))


# -- compressed files and standard input ---------------------------------------------
@pytest.fixture(scope="module")
def compressed_files(trained):
    """train.svm as .gz and .bz2 (named .svm.gz, and without a telling suffix)."""
    content = (trained / "train.svm").read_bytes()
    (trained / "train.svm.gz").write_bytes(gzip.compress(content))
    (trained / "train.data.bz2").write_bytes(bz2.compress(content))
    (trained / "not-gzip.gz").write_bytes(content)
    return trained


@pytest.mark.parametrize("source", ["train.svm.gz", "train.data.bz2", "-"])
def test_predict_reads_compressed_files_and_stdin(source, problem, compressed_files):
    X, y = problem
    expected = reference_model().fit(X, y).predict(X)
    result = run("predict", source, "model.skops", cwd=compressed_files,
                 stdin=compressed_files / "train.svm" if source == "-" else None)
    assert_array_equal(np.array(result.stdout.split(), dtype=int), expected)
    correct = int(np.sum(expected == y))
    assert result.stderr.strip() == (f"accuracy: {correct / len(y):.4f} "
                                     f"({correct}/{len(y)})")


def test_stdin_training_needs_an_output(tmp_path):
    result = run("train", "-", cwd=tmp_path, expect_ok=False)
    assert result.returncode == 2
    assert_one_line_error(result, "standard input", "-o")


def test_damaged_compressed_file(compressed_files, capsys, monkeypatch):
    status, out, err = run_in_process("predict", "not-gzip.gz", "model.skops",
                                      cwd=compressed_files, capsys=capsys,
                                      monkeypatch=monkeypatch)
    assert status == 1 and out == ""
    assert err.startswith("sksvm: error: cannot read not-gzip.gz: ")
    assert len(err.strip().splitlines()) == 1


# -- train options --------------------------------------------------------------------
@pytest.fixture(scope="module")
def label_last_csv(problem, tmp_path_factory):
    """The problem as CSV with the labels last, plain and bz2-compressed."""
    folder = tmp_path_factory.mktemp("label_last")
    X, y = problem
    text = "".join(",".join(map(repr, [*row.tolist(), int(label)])) + "\n"
                   for row, label in zip(X, y))
    (folder / "data.csv").write_text(text)
    (folder / "data.csv.bz2").write_bytes(bz2.compress(text.encode()))
    return folder


def test_class_weight_and_random_state(problem, label_last_csv):
    """From a compressed file, without -o: the model goes to data.csv.skops."""
    X, y = problem
    folder = label_last_csv
    run("train", "data.csv.bz2", "--label-column", "-1", "--class-weight",
        "0:3,2:0.5", *FIT_ARGS, cwd=folder)
    from sksvm._io import load_model

    model, _ = load_model(str(folder / "data.csv.skops"))
    assert model.class_weight == {0: 3.0, 2: 0.5} and model.random_state == SEED
    reference = reference_model(class_weight={0: 3.0, 2: 0.5}).fit(X, y)
    assert_array_equal(model.coef_, reference.coef_)  # same seed: identical
    assert not np.allclose(model.coef_, reference_model().fit(X, y).coef_)


def test_class_weight_errors(label_last_csv, capsys, monkeypatch):
    status, _, err = run_in_process("train", "data.csv", "--label-column", "-1",
                                    "--class-weight", "7:2", cwd=label_last_csv,
                                    capsys=capsys, monkeypatch=monkeypatch)
    assert status == 1
    assert err.strip() == ("sksvm: error: --class-weight names class '7', which is "
                           "not in data.csv (its classes: 0, 1, 2)")
    with pytest.raises(SystemExit) as exit_info:
        run_in_process("train", "data.csv", "--class-weight", "0=2",
                       cwd=label_last_csv, capsys=capsys, monkeypatch=monkeypatch)
    assert exit_info.value.code == 2
    assert "is not label:weight" in capsys.readouterr().err


def test_cross_validation_prints_accuracy_and_saves_nothing(problem, label_last_csv):
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    X, y = problem
    folder = label_last_csv
    before = set(folder.iterdir())
    result = run("train", "data.csv", "--label-column", "-1", "--cv", "3",
                 *FIT_ARGS, cwd=folder)
    scores = cross_val_score(reference_model(), X, y,
                             cv=StratifiedKFold(3, shuffle=True, random_state=SEED))
    assert result.stdout == (f"cross-validation accuracy: {scores.mean():.4f} (mean "
                             f"of 3 folds, standard deviation {scores.std():.4f})\n")
    assert set(folder.iterdir()) == before


def test_cross_validation_with_output_is_a_usage_error(tmp_path):
    result = run("train", "data.csv", "--cv", "3", "-o", "m.skops", cwd=tmp_path,
                 expect_ok=False)
    assert result.returncode == 2
    assert_one_line_error(result, "--cv saves no model")


@pytest.mark.parametrize("scale, data", [("standard", "data.csv"),
                                         ("maxabs", "train.svm")])
def test_scale_saves_a_pipeline_that_predict_applies(scale, data, problem, trained,
                                                     label_last_csv):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MaxAbsScaler, StandardScaler

    X, y = problem
    folder = label_last_csv
    if data == "train.svm":
        shutil.copy(trained / "train.svm", folder / "train.svm")
    label_args = ["--label-column", "-1"] if data.endswith(".csv") else []
    run("train", data, "-o", f"{scale}.skops", "--scale", scale, *label_args,
        *FIT_ARGS, cwd=folder)
    scaler = StandardScaler() if scale == "standard" else MaxAbsScaler()
    # The svmlight file is read as CSR, and solver="auto" depends on the format.
    X_read = sp.csr_matrix(X) if data == "train.svm" else X
    reference = make_pipeline(scaler, reference_model()).fit(X_read, y)
    result = run("predict", data, f"{scale}.skops", "--decision-values", cwd=folder)
    lines = result.stdout.splitlines()
    assert lines[0] == "labels 0 1 2"
    assert_array_equal([int(line.split()[0]) for line in lines[1:]],
                       reference.predict(X))
    assert_allclose([[float(v) for v in line.split()[1:]] for line in lines[1:]],
                    reference.decision_function(X), rtol=1e-8, atol=1e-10)
    if scale == "standard":
        info = run("info", f"{scale}.skops", cwd=folder).stdout
        assert "pipeline:      StandardScaler -> LinearMulticlassSVM" in info


def test_standard_scaling_of_sparse_data_is_refused(trained, capsys, monkeypatch):
    status, _, err = run_in_process("train", "train.svm", "-o", "x.skops", "--scale",
                                    "standard", cwd=trained, capsys=capsys,
                                    monkeypatch=monkeypatch)
    assert status == 1 and "--scale maxabs" in err
    assert not (trained / "x.skops").exists()


@pytest.fixture(scope="module")
def binary_problem(tmp_path_factory):
    folder = tmp_path_factory.mktemp("binary")
    X, y = make_problem(n=40, d=3, k=2, seed=3, shift=0.5)
    write_libsvm(folder / "binary.svm", X, y)
    return folder, X, y


def test_liblinear_c_matches_liblinear(binary_problem):
    """--liblinear-c 0.5 on two classes without intercept: LinearSVC's solution
    (liblinear, the hinge loss) with C=0.5."""
    from sklearn.svm import LinearSVC

    folder, X, y = binary_problem
    run("train", "binary.svm", "-o", "model.skops", "--liblinear-c", "0.5",
        "--no-intercept", "--tol", "1e-10", "--threads", "1", cwd=folder)
    from sksvm._io import load_model

    model, _ = load_model(str(folder / "model.skops"))
    assert model.C == pytest.approx(2 / (len(y) * 0.5))
    liblinear = LinearSVC(loss="hinge", C=0.5, fit_intercept=False, tol=1e-12,
                          max_iter=1_000_000).fit(X, y)
    assert_allclose(model.coef_, liblinear.coef_, rtol=1e-4, atol=1e-6)

    # Two classes: one decision value per sample, for the second class.
    result = run("predict", "binary.svm", "model.skops", "--decision-values",
                 cwd=folder)
    lines = result.stdout.splitlines()
    assert lines[0] == "labels 1"
    assert_allclose([float(line.split()[1]) for line in lines[1:]],
                    model.decision_function(X), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("args, fragments", [
    (["-c", "1"], ["liblinear's cost", "regularization strength",
                   "--liblinear-c 1"]),
    (["--C", "1", "--liblinear-c", "1"], ["not allowed with argument"]),
])
def test_liblinear_cost_usage_errors(args, fragments, tmp_path):
    result = run("train", "data.svm", *args, cwd=tmp_path, expect_ok=False)
    assert result.returncode == 2
    assert_one_line_error(result, *fragments)


def test_info_describes_the_model(problem, trained):
    from sksvm._io import load_model

    model, _ = load_model(str(trained / "model.skops"))
    result = run("info", "model.skops", cwd=trained)
    fields = dict(line.split(":", 1) for line in result.stdout.splitlines())
    fields = {name: value.strip() for name, value in fields.items()}
    assert fields["classes"] == "3: 0 1 2"
    assert fields["features"] == "4"
    assert float(fields["C"]) == C
    assert fields["loss"] == model.loss
    assert fields["solver"] == f"{model.solver_} (requested {model.solver})"
    assert fields["iterations"] == str(model.n_iter_)
    assert float(fields["duality gap"].split()[0]) == pytest.approx(
        model.duality_gap_, rel=1e-2)
    assert fields["pipeline"] == "none (the SVM alone)"
    assert fields["data"] == "svmlight, 1-based feature indices"
