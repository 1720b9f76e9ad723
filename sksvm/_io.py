"""Data and model files for the command line.

Data files are svmlight/libsvm text (as liblinear's ``train`` and ``predict`` read)
or CSV with a label column. Models are skops files, loaded without executing code
from the file: only sksvm's own model types are trusted beyond skops' defaults.
"""

import csv
import os
import zipfile

import numpy as np
import scipy.sparse as sp

LABEL_COLUMN_NAMES = ("label", "labels", "class", "target", "y")
SVMLIGHT_SUFFIXES = (".svm", ".svmlight", ".libsvm", ".txt", ".t", ".scale")


class DataError(Exception):
    """A data or model file that cannot be used; the message is for the user."""


class Dataset:
    """Features, labels (or None) and how they were read.

    ``layout`` records the reading decisions a later file must repeat to line up
    with this one: the format, the base of svmlight indices and the CSV label
    column.
    """

    def __init__(self, X, y, layout):
        self.X = X
        self.y = y
        self.layout = layout

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def n_features(self):
        return self.X.shape[1]


# -- format detection ----------------------------------------------------------------
def detect_format(path):
    """``"csv"`` or ``"svmlight"``, from the suffix or else the first data line."""
    lower = str(path).lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith(SVMLIGHT_SUFFIXES):
        return "svmlight"
    with _open_text(path) as handle:
        for line in handle:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            return "svmlight" if ":" in line or "," not in line else "csv"
    return "svmlight"


def read_data(path, fmt="auto", *, zero_based=None, label_column=None,
              n_features=None):
    """Read a data file.

    Parameters
    ----------
    path : str
        The file.
    fmt : {"auto", "svmlight", "csv"}
        The format; ``"auto"`` looks at the suffix and then the content.
    zero_based : bool or None
        svmlight only: whether feature indices start at 0. None decides as
        scikit-learn does: 0-based if index 0 occurs, else 1-based (liblinear).
    label_column : str, int or None
        CSV only: the label column's name or position (negative counts from the
        end). None picks a column named label/class/target/y, else the first.
    n_features : int or None
        The number of features a model expects. svmlight files with fewer are
        padded with zero columns (absent features are zeros); CSV files must
        match, with or without their label column.

    Returns
    -------
    Dataset
    """
    if not os.path.exists(path):
        raise DataError(f"cannot read {path}: no such file")
    if os.path.isdir(path):
        raise DataError(f"cannot read {path}: it is a directory")
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt == "svmlight":
        return _read_svmlight(path, zero_based, n_features)
    if fmt == "csv":
        return _read_csv(path, label_column, n_features)
    raise DataError(f"unknown data format {fmt!r}")


def _open_text(path):
    try:
        return open(path, encoding="utf-8", newline="")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None


# -- svmlight ------------------------------------------------------------------------
def _read_svmlight(path, zero_based, n_features):
    from sklearn.datasets import load_svmlight_file

    try:
        # Read the indices as they are written; the base is decided below.
        X, y, _ = load_svmlight_file(path, zero_based=True, query_id=True,
                                     dtype=np.float64)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(_locate_svmlight_error(path, exc)) from None
    X = sp.csr_matrix(X)
    has_index_zero = X.nnz > 0 and X.indices.min() == 0
    if zero_based is None:
        zero_based = bool(has_index_zero)
    if not zero_based:
        if has_index_zero:
            line = _first_line_with_index_zero(path)
            raise DataError(
                f"{path}:{line}: feature index 0, but indices are 1-based here (the "
                "model was trained on a file with 1-based indices, as liblinear "
                "writes them)")
        X = X[:, 1:] if X.shape[1] > 0 else X
    if n_features is not None:
        if X.shape[1] > n_features:
            raise DataError(
                f"{path} has features up to number {X.shape[1]} but the model was "
                f"trained on {n_features} features")
        if X.shape[1] < n_features:
            X = sp.csr_matrix((X.data, X.indices, X.indptr),
                              shape=(X.shape[0], n_features))
    if X.shape[0] == 0:
        raise DataError(f"{path} holds no samples")
    X.sort_indices()
    return Dataset(X, y, {"format": "svmlight", "zero_based": bool(zero_based)})


def _first_line_with_index_zero(path):
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if any(token.startswith("0:")
                   for token in line.split("#", 1)[0].split()[1:]):
                return number
    return "?"


def _locate_svmlight_error(path, exc):
    """The first malformed line, described; ``exc`` is the loader's error."""
    try:
        with _open_text(path) as handle:
            for number, line in enumerate(handle, start=1):
                problem = _svmlight_line_problem(line)
                if problem:
                    return f"{path}:{number}: malformed svmlight line: {problem}"
    except UnicodeDecodeError:
        return f"{path}: not a text file (svmlight format expected)"
    return f"{path}: malformed svmlight file: {exc}"


def _svmlight_line_problem(line):
    tokens = line.split("#", 1)[0].split()
    if not tokens:
        return None
    try:
        float(tokens[0])
    except ValueError:
        return f"the label {tokens[0]!r} is not a number"
    previous = -1
    for position, token in enumerate(tokens[1:]):
        index, colon, value = token.partition(":")
        if not colon:
            return f"{token!r} is not index:value"
        if index == "qid" and position == 0:
            continue
        if not index.isdigit():
            return f"the feature index in {token!r} is not a non-negative integer"
        try:
            float(value)
        except ValueError:
            return f"the value in {token!r} is not a number"
        if int(index) <= previous:
            return "feature indices must be increasing"
        previous = int(index)
    return None


# -- CSV -----------------------------------------------------------------------------
def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_csv(path, label_column, n_features):
    with _open_text(path) as handle:
        try:
            rows = [(number, row) for number, row in enumerate(csv.reader(handle), 1)
                    if row and any(field.strip() for field in row)]
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: not a readable CSV file: {exc}") from None
    if not rows:
        raise DataError(f"{path} holds no samples")
    header = _csv_header(rows)
    if header is not None:
        rows = rows[1:]
        if not rows:
            raise DataError(f"{path} holds no samples (only a header)")
    n_columns = len(rows[0][1])
    for number, row in rows:
        if len(row) != n_columns:
            raise DataError(f"{path}:{number}: malformed CSV line: {len(row)} fields, "
                            f"expected {n_columns} like the first line")

    column = _label_position(path, header, n_columns, label_column, n_features)
    labels = None
    if column is not None:
        labels = _parse_labels([row[column].strip() for _, row in rows])
    feature_columns = [j for j in range(n_columns) if j != column]
    if n_features is not None and len(feature_columns) != n_features:
        raise DataError(f"{path} has {len(feature_columns)} feature columns but the "
                        f"model was trained on {n_features} features")
    X = np.empty((len(rows), len(feature_columns)))
    for i, (number, row) in enumerate(rows):
        for out, j in enumerate(feature_columns):
            try:
                X[i, out] = float(row[j])
            except ValueError:
                name = header[j] if header is not None else f"column {j + 1}"
                raise DataError(f"{path}:{number}: malformed CSV line: {row[j]!r} in "
                                f"{name} is not a number") from None
    if not np.all(np.isfinite(X)):
        bad = int(np.argwhere(~np.isfinite(X))[0, 0])
        raise DataError(f"{path}:{rows[bad][0]}: features must be finite numbers")
    layout = {"format": "csv",
              "label_column": None if column is None else
              (header[column] if header is not None else column)}
    return Dataset(X, labels, layout)


def _csv_header(rows):
    """The first row as a header, or None when it is data.

    The first row is a header when it has more non-numeric fields than the second
    (labels may be non-numeric, features never are), or, alone, when none of its
    fields is a number.
    """
    first = [field.strip() for field in rows[0][1]]
    text_first = sum(not _is_number(field) for field in first)
    if len(rows) == 1:
        return first if text_first == len(first) else None
    text_second = sum(not _is_number(field) for field in rows[1][1])
    return first if text_first > text_second else None


def _label_position(path, header, n_columns, label_column, n_features):
    """Index of the label column, or None when the file has no labels."""
    if label_column is not None:
        if isinstance(label_column, str) and not _is_int(label_column):
            if header is None or label_column not in header:
                if n_features is not None and n_columns == n_features:
                    return None  # an unlabeled file for prediction
                raise DataError(f"{path} has no column named {label_column!r}")
            return header.index(label_column)
        position = int(label_column)
        if n_features is not None and n_columns == n_features:
            return None
        if not -n_columns <= position < n_columns:
            raise DataError(f"{path} has {n_columns} columns; label column "
                            f"{position} does not exist")
        return position % n_columns
    if header is not None:
        for j, name in enumerate(header):
            if name.lower() in LABEL_COLUMN_NAMES:
                return j
    if n_features is not None and n_columns == n_features:
        return None
    if n_columns < 2:
        raise DataError(f"{path} has one column; a CSV needs a label column and at "
                        "least one feature column")
    return 0


def _is_int(text):
    try:
        int(text)
    except (TypeError, ValueError):
        return False
    return True


def _parse_labels(fields):
    """Integers if they all are, else floats if they all are, else strings."""
    if any(not field for field in fields):
        raise DataError("a label is empty")
    for kind in (int, float):
        try:
            return np.array([kind(field) for field in fields])
        except ValueError:
            continue
    return np.array(fields, dtype=object).astype(str)


# -- models --------------------------------------------------------------------------
def trusted_types():
    """Fully qualified names of the sksvm types a model file may contain."""
    from . import _solvers
    from ._estimator import LinearMulticlassSVM

    # The solver state a model fitted in Python may carry (for warm starts): plain
    # data holders of ours.
    classes = [LinearMulticlassSVM, getattr(_solvers, "SubgradientState", None)]
    return sorted(f"{cls.__module__}.{cls.__qualname__}"
                  for cls in classes if cls is not None)


def _import_skops():
    try:
        import skops.io
    except ImportError:
        raise DataError("saving and loading models needs the skops package: "
                        "pip install skops") from None
    return skops.io


def save_model(model, path, layout):
    """Save a fitted estimator's parameters and fitted attributes with skops.

    Only the constructor parameters and the public fitted attributes (``coef_``,
    ``intercept_``, ``classes_``, ...) are written, plus ``layout``, the reading
    decisions that ``predict`` repeats on its data.
    """
    from sklearn.base import clone

    sio = _import_skops()
    saved = clone(model)
    for name, value in vars(model).items():
        if name.endswith("_") and not name.startswith("_"):
            setattr(saved, name, value)
    saved._sksvm_data_layout = dict(layout)
    try:
        sio.dump(saved, path)
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None


def load_model(path):
    """Load a model saved by :func:`save_model` (or a skops file of an sksvm model).

    Returns ``(model, layout)``. Files containing any type beyond skops' defaults
    and :func:`trusted_types` are refused before anything is built from them.
    """
    from sklearn.pipeline import Pipeline

    from ._estimator import LinearMulticlassSVM

    sio = _import_skops()
    if not os.path.exists(path):
        raise DataError(f"cannot read model {path}: no such file")
    if os.path.isdir(path):
        raise DataError(f"cannot read model {path}: it is a directory")
    trusted = trusted_types()
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except (zipfile.BadZipFile, KeyError, ValueError, UnicodeDecodeError):
        raise DataError(f"{path} is not a model file (expected a skops file written "
                        "by 'sksvm train')") from None
    except OSError as exc:
        raise DataError(f"cannot read model {path}: {exc.strerror or exc}") from None
    refused = sorted(set(untrusted) - set(trusted))
    if refused:
        raise DataError(
            f"refusing to load {path}: it contains types that are not trusted "
            f"({', '.join(refused)}); only sksvm models are loaded, and no code "
            "from a model file is ever run")
    try:
        model = sio.load(path, trusted=trusted)
    except Exception as exc:  # a damaged file: report it, whatever skops raised
        raise DataError(f"cannot load model {path}: {exc}") from None
    estimator = model[-1] if isinstance(model, Pipeline) and len(model) else model
    if not isinstance(estimator, LinearMulticlassSVM):
        raise DataError(f"{path} holds a {type(model).__name__}, not a "
                        "LinearMulticlassSVM model")
    if not hasattr(estimator, "coef_"):
        raise DataError(f"{path} holds an unfitted model")
    layout = getattr(estimator, "_sksvm_data_layout", None) or {}
    return model, layout
