"""Data and model files for the command line.

Data files are svmlight/libsvm text (as liblinear's ``train`` and ``predict`` read)
or CSV with a label column, plain or compressed (``.gz``, ``.bz2``), or standard
input (``-``). Models are skops files, loaded without executing code from the
file: only sksvm's own model types are trusted beyond skops' defaults.
"""

import csv
import io
import os
import sys
import zipfile

import numpy as np
import scipy.sparse as sp

LABEL_COLUMN_NAMES = ("label", "labels", "class", "target", "y")
SVMLIGHT_SUFFIXES = (".svm", ".svmlight", ".libsvm", ".txt", ".t", ".scale")
COMPRESSION_SUFFIXES = (".gz", ".bz2")
STDIN = "-"
#: Rows read to decide whether a CSV file has a header.
HEADER_SAMPLE_ROWS = 100
#: A label column that was guessed (not named) is refused when its number of
#: distinct values exceeds this fraction of the samples.
GUESSED_LABEL_MAX_DISTINCT_FRACTION = 0.1


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


# -- sources -------------------------------------------------------------------------
def strip_compression_suffix(path):
    """``path`` without a trailing ``.gz`` or ``.bz2``."""
    for suffix in COMPRESSION_SUFFIXES:
        if str(path).lower().endswith(suffix):
            return str(path)[:-len(suffix)]
    return str(path)


class DataSource:
    """A data file, compressed or not, or standard input; it can be opened again.

    Standard input is read once, into memory, so that the format can be detected
    before the data are parsed.
    """

    def __init__(self, path):
        self.path = str(path)
        if self.path == STDIN:
            self.name = "<stdin>"
            self._content = sys.stdin.buffer.read()
            return
        self.name = self.path
        self._content = None
        if not os.path.exists(self.path):
            raise DataError(f"cannot read {self.path}: no such file")
        if os.path.isdir(self.path):
            raise DataError(f"cannot read {self.path}: it is a directory")

    @property
    def suffix_name(self):
        """The name whose suffix tells the format: without compression suffix."""
        return "" if self._content is not None else strip_compression_suffix(self.path)

    def open_binary(self):
        """A new binary stream of the (decompressed) content."""
        if self._content is not None:
            return io.BytesIO(self._content)
        lower = self.path.lower()
        try:
            if lower.endswith(".gz"):
                import gzip
                return gzip.open(self.path, "rb")
            if lower.endswith(".bz2"):
                import bz2
                return bz2.open(self.path, "rb")
            return open(self.path, "rb")
        except OSError as exc:
            raise DataError(f"cannot read {self.name}: {exc.strerror or exc}") from None

    def open_text(self):
        """A new text stream (UTF-8; a leading byte order mark is dropped)."""
        return io.TextIOWrapper(self.open_binary(), encoding="utf-8-sig", newline="")


# -- format detection ----------------------------------------------------------------
def detect_format(source):
    """``"csv"`` or ``"svmlight"``, from the suffix or else the first data line.

    Parameters
    ----------
    source : DataSource
        The data; a compression suffix (``.gz``, ``.bz2``) is looked through.

    Returns
    -------
    str
    """
    lower = source.suffix_name.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith(SVMLIGHT_SUFFIXES):
        return "svmlight"
    with source.open_text() as handle:
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
        The file; ``.gz`` and ``.bz2`` files are decompressed, and ``"-"`` reads
        standard input.
    fmt : {"auto", "svmlight", "csv"}
        The format; ``"auto"`` looks at the suffix and then the content.
    zero_based : bool or None
        svmlight only: whether feature indices start at 0. None decides as
        scikit-learn does: 0-based if index 0 occurs, else 1-based (liblinear).
    label_column : str, int or None
        CSV only: the label column's name or position (negative counts from the
        end). None picks a column named label/class/target/y, else guesses the
        first, and refuses the guess when its values do not look like class
        labels (see :func:`guessed_label_problem`).
    n_features : int or None
        The number of features a model expects. svmlight files with fewer are
        padded with zero columns (absent features are zeros); CSV files must
        match, with or without their label column.

    Returns
    -------
    Dataset
    """
    source = DataSource(path)
    try:
        if fmt == "auto":
            fmt = detect_format(source)
        if fmt == "svmlight":
            return _read_svmlight(source, zero_based, n_features)
        if fmt == "csv":
            return _read_csv(source, label_column, n_features)
    except UnicodeDecodeError:
        raise DataError(f"{source.name}: not a UTF-8 text file (expected svmlight "
                        "or CSV text, optionally .gz or .bz2 compressed)") from None
    except (OSError, EOFError) as exc:  # also damaged compressed files
        raise DataError(f"cannot read {source.name}: "
                        f"{getattr(exc, 'strerror', None) or exc}") from None
    raise DataError(f"unknown data format {fmt!r}")


# -- svmlight ------------------------------------------------------------------------
def _read_svmlight(source, zero_based, n_features):
    from sklearn.datasets import load_svmlight_file

    name = source.name
    try:
        # Read the indices as they are written; the base is decided below.
        with source.open_binary() as handle:
            X, y, _ = load_svmlight_file(handle, zero_based=True, query_id=True,
                                         dtype=np.float64)
    except ValueError as exc:  # including UnicodeDecodeError
        raise DataError(_locate_svmlight_error(source, exc)) from None
    X = sp.csr_matrix(X)
    has_index_zero = X.nnz > 0 and X.indices.min() == 0
    if zero_based is None:
        zero_based = bool(has_index_zero)
    if not zero_based:
        if has_index_zero:
            line = _first_line_with_index_zero(source)
            raise DataError(
                f"{name}:{line}: feature index 0, but indices are 1-based here (the "
                "model was trained on a file with 1-based indices, as liblinear "
                "writes them)")
        X = X[:, 1:] if X.shape[1] > 0 else X
    if n_features is not None:
        if X.shape[1] > n_features:
            raise DataError(
                f"{name} has features up to number {X.shape[1]} but the model was "
                f"trained on {n_features} features")
        if X.shape[1] < n_features:
            X = sp.csr_matrix((X.data, X.indices, X.indptr),
                              shape=(X.shape[0], n_features))
    if X.shape[0] == 0:
        raise DataError(f"{name} holds no samples")
    X.sort_indices()
    return Dataset(X, y, {"format": "svmlight", "zero_based": bool(zero_based)})


def _first_line_with_index_zero(source):
    with source.open_text() as handle:
        for number, line in enumerate(handle, start=1):
            if any(token.startswith("0:")
                   for token in line.split("#", 1)[0].split()[1:]):
                return number
    return "?"


def _locate_svmlight_error(source, exc):
    """The first malformed line, described; ``exc`` is the loader's error."""
    try:
        with source.open_text() as handle:
            for number, line in enumerate(handle, start=1):
                problem = _svmlight_line_problem(line)
                if problem:
                    return (f"{source.name}:{number}: malformed svmlight line: "
                            f"{problem}")
    except UnicodeDecodeError:
        return f"{source.name}: not a text file (svmlight format expected)"
    return f"{source.name}: malformed svmlight file: {exc}"


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


def _is_int(text):
    try:
        int(text)
    except (TypeError, ValueError):
        return False
    return True


def _nonblank_lines(handle):
    """``(line number, line)`` of each line of ``handle`` that is not blank."""
    for number, line in enumerate(handle, start=1):
        if line.strip():
            yield number, line


def _csv_records(handle, limit=None):
    """``(line number, fields)`` of the non-blank lines, at most ``limit`` of them."""
    records = []
    for number, line in _nonblank_lines(handle):
        if limit is not None and len(records) == limit:
            break
        records.append((number, next(csv.reader([line]))))
    return records


def _read_csv(source, label_column, n_features):
    """Read a CSV file with numpy's parser; rescan it to locate a malformed line."""
    name = source.name
    try:
        with source.open_text() as handle:
            sample = _csv_records(handle, limit=HEADER_SAMPLE_ROWS)
    except csv.Error as exc:
        raise DataError(f"{name}: not a readable CSV file: {exc}") from None
    if not sample:
        raise DataError(f"{name} holds no samples")
    header = csv_header(sample)
    if header is not None and len(sample) == 1:
        raise DataError(f"{name} holds no samples (only a header)")
    n_columns = len(sample[1 if header is not None else 0][1])
    column, guessed = _label_position(name, header, n_columns, label_column,
                                      n_features)
    n_feature_columns = n_columns - (column is not None)
    if n_features is not None and n_feature_columns != n_features:
        raise DataError(f"{name} has {n_feature_columns} feature columns but the "
                        f"model was trained on {n_features} features")

    # Labels pass through a converter that numbers each distinct label text; they
    # are parsed (integers, numbers or strings) once per distinct value.
    label_codes = {}
    converters = None
    if column is not None:
        converters = {column: lambda text: label_codes.setdefault(text.strip(),
                                                                   len(label_codes))}
    try:
        with source.open_text() as handle:
            table = np.loadtxt((line for _, line in _nonblank_lines(handle)),
                               dtype=np.float64, delimiter=",", comments=None,
                               quotechar='"', skiprows=int(header is not None),
                               converters=converters, ndmin=2)
    except ValueError as exc:
        raise DataError(_locate_csv_error(source, header, column, guessed,
                                          exc)) from None
    if column is None:
        X, labels = table, None
    else:
        if "" in label_codes:
            raise DataError(_locate_csv_error(source, header, column, guessed, None))
        distinct = _parse_labels(list(label_codes))
        labels = distinct[table[:, column].astype(np.intp)]
        X = np.delete(table, column, axis=1)
        del table
        problem = guessed_label_problem(labels) if guessed else None
        if problem:
            raise DataError(
                f"{name}: no column is named or marked as the label, and the first, "
                f"{_column_name(header, column)}, {problem}: it looks like a feature, "
                "not class labels. Name the label column with --label-column NAME "
                "or POSITION (-1 for the last), or call it label, class, target or "
                "y in the header")
    if not np.all(np.isfinite(X)):
        bad = int(np.argwhere(~np.isfinite(X))[0, 0])
        raise DataError(f"{name}:{_line_of_row(source, header, bad)}: features must "
                        "be finite numbers")
    layout = {"format": "csv",
              "label_column": None if column is None else
              (header[column] if header is not None else column)}
    return Dataset(X, labels, layout)


def _column_name(header, column):
    if header is not None:
        return f"column {column + 1} ({header[column]!r})"
    return f"column {column + 1}"


def _line_of_row(source, header, row):
    """The line number of data row ``row`` (0-based, after any header)."""
    with source.open_text() as handle:
        for position, (number, _) in enumerate(_nonblank_lines(handle)):
            if position == row + (header is not None):
                return number
    return "?"


def _locate_csv_error(source, header, column, guessed, exc):
    """The first malformed line, described; ``exc`` is the fast reader's error.

    Only called when the fast reader failed: it reads the file again, one line at
    a time. When the label column was guessed, a text field elsewhere may be the
    real labels: the message then says how to name them.
    """
    name = source.name
    with source.open_text() as handle:
        records = iter(_csv_records(handle))
        if header is not None:
            next(records, None)
        n_columns = None
        for number, row in records:
            if n_columns is None:
                n_columns = len(row)
            if len(row) != n_columns:
                return (f"{name}:{number}: malformed CSV line: {len(row)} fields, "
                        f"expected {n_columns} like the first line")
            for j, field in enumerate(row):
                if j == column:
                    if not field.strip():
                        return f"{name}:{number}: malformed CSV line: the label is empty"
                elif not _is_number(field):
                    hint = ""
                    if guessed:
                        hint = (f" (the labels were guessed to be in "
                                f"{_column_name(header, column)}, as no column is "
                                "named label, class, target or y; if this column "
                                "holds them, name it with --label-column)")
                    return (f"{name}:{number}: malformed CSV line: {field!r} in "
                            f"{_column_name(header, j)} is not a number{hint}")
    return f"{name}: malformed CSV file: {exc}"


def csv_header(records):
    """The first record as a header (its stripped fields), or None when it is data.

    The first record is a header when

    - some column has a field that is not a number first and numbers below it
      (feature names over numeric features), or
    - its fields that are not numbers do not occur again in their columns (they
      are names, not values), and one of them is a label column name (label,
      class, target, y) or its numbers are 0, 1, 2, ... in order (pandas' names of
      unnamed columns, as in ``label,0,1,2`` over string labels), or
    - all its fields are 0, 1, 2, ... in order, and it has at least 4 fields or a
      number below it is not an integer (pandas' header of an unnamed numeric
      table, which a sample is unlikely to equal).

    Parameters
    ----------
    records : list of (int, list of str)
        The first records of the file, as (line number, fields).

    Returns
    -------
    list of str or None
    """
    first = [field.strip() for field in records[0][1]]
    below = [[field.strip() for field in row] for _, row in records[1:]]
    texts = [j for j, field in enumerate(first) if not _is_number(field)]
    numbers = [field for field in first if _is_number(field)]
    if not texts:
        if _are_column_numbers(first) and (
                len(first) >= 4 or not all(_is_int(field)
                                           for row in below for field in row)):
            return first
        return None

    def column(j):
        return [row[j] for row in below if j < len(row)]

    if any(column(j) and all(_is_number(field) for field in column(j))
           for j in texts):
        return first
    if any(first[j] in column(j) for j in texts):
        return None
    if (any(first[j].lower() in LABEL_COLUMN_NAMES for j in texts)
            or _are_column_numbers(numbers)):
        return first
    return None


def _are_column_numbers(fields):
    """Whether ``fields`` are "0", "1", "2", ... in order."""
    return fields == [str(j) for j in range(len(fields))]


def _label_position(name, header, n_columns, label_column, n_features):
    """The label column's index (or None when the file has no labels), and whether
    it was guessed rather than named or marked."""
    if label_column is not None:
        if isinstance(label_column, str) and not _is_int(label_column):
            if header is None or label_column not in header:
                if n_features is not None and n_columns == n_features:
                    return None, False  # an unlabeled file for prediction
                raise DataError(f"{name} has no column named {label_column!r}")
            return header.index(label_column), False
        position = int(label_column)
        if n_features is not None and n_columns == n_features:
            return None, False
        if not -n_columns <= position < n_columns:
            raise DataError(f"{name} has {n_columns} columns; label column "
                            f"{position} does not exist")
        return position % n_columns, False
    if header is not None:
        for j, field in enumerate(header):
            if field.lower() in LABEL_COLUMN_NAMES:
                return j, False
    if n_features is not None and n_columns == n_features:
        return None, False
    if n_columns < 2:
        raise DataError(f"{name} has one column; a CSV needs a label column and at "
                        "least one feature column")
    return 0, True


def guessed_label_problem(labels):
    """Why a guessed label column does not look like class labels, or None.

    A column is refused when it holds numbers that are not all integers (it looks
    continuous), or when its distinct values are more than
    ``GUESSED_LABEL_MAX_DISTINCT_FRACTION`` (10 %) of the samples.

    Parameters
    ----------
    labels : ndarray of shape (n_samples,)
        The column's values, parsed.

    Returns
    -------
    str or None
    """
    if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)
                                               & (labels == np.round(labels))):
        return "holds numbers that are not integers"
    n_distinct = len(np.unique(labels))
    if n_distinct > GUESSED_LABEL_MAX_DISTINCT_FRACTION * len(labels):
        return (f"holds {n_distinct} distinct values in {len(labels)} rows (more "
                f"than {GUESSED_LABEL_MAX_DISTINCT_FRACTION:.0%})")
    return None


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


def final_estimator(model):
    """The model itself, or the last step of a scikit-learn Pipeline."""
    return model[-1] if hasattr(model, "steps") and len(model.steps) else model


def _public_copy(estimator):
    """A clone of a fitted estimator with its public fitted attributes only."""
    from sklearn.base import clone

    copy = clone(estimator)
    for name, value in vars(estimator).items():
        if name.endswith("_") and not name.startswith("_"):
            setattr(copy, name, value)
    return copy


def save_model(model, path, layout):
    """Save a fitted estimator, or a Pipeline ending in one, with skops.

    Only the estimator's constructor parameters and public fitted attributes
    (``coef_``, ``intercept_``, ``classes_``, ...) are written, plus ``layout``, the
    reading decisions that ``predict`` repeats on its data. A Pipeline's other
    steps (scalers) are written as they are.
    """
    from sklearn.pipeline import Pipeline

    sio = _import_skops()
    saved = _public_copy(final_estimator(model))
    saved._sksvm_data_layout = dict(layout)
    if hasattr(model, "steps"):
        saved = Pipeline(model.steps[:-1] + [(model.steps[-1][0], saved)])
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
    estimator = final_estimator(model) if isinstance(model, Pipeline) else model
    if not isinstance(estimator, LinearMulticlassSVM):
        raise DataError(f"{path} holds a {type(model).__name__}, not a "
                        "LinearMulticlassSVM model")
    if not hasattr(estimator, "coef_"):
        raise DataError(f"{path} holds an unfitted model")
    layout = getattr(estimator, "_sksvm_data_layout", None) or {}
    return model, layout
