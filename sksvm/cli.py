"""Command line interface: ``sksvm`` / ``python -m sksvm``.

``sksvm train DATA [-o MODEL]``, ``sksvm predict DATA MODEL``, ``sksvm info MODEL``
and ``sksvm bench``. Errors are reported as one line on stderr with a non-zero exit
status. Building the parser imports neither numba nor scikit-learn (the defaults
come from :mod:`sksvm._defaults`), so ``--help`` is quick.
"""

import argparse
import contextlib
import sys
import time
import warnings

from ._defaults import DEFAULTS, LOSSES, SOLVERS

EXIT_ERROR = 1
EXIT_USAGE = 2
SCALERS = ("none", "standard", "maxabs")
MODEL_SUFFIX = ".skops"


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one ``sksvm: error:`` line."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} "
                              "--help)\n")


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _fold_count(text):
    value = _positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be >= 2 folds, got {text}")
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**32), got {text}")
    return value


def _class_weight(text):
    """``"balanced"``, or ``{label text: weight}`` from ``label:weight,...``."""
    if text == "balanced":
        return text
    weights = {}
    for item in text.split(","):
        label, colon, weight = item.strip().rpartition(":")
        if not colon or not label:
            raise argparse.ArgumentTypeError(
                f"{item.strip()!r} is not label:weight (expected 'balanced' or "
                "label:weight,label:weight,...)")
        if label in weights:
            raise argparse.ArgumentTypeError(f"class {label!r} is given twice")
        try:
            weights[label] = _positive_float(weight)
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"the weight of {label!r}: {exc}") from None
    return weights


class _LiblinearCostHint(argparse.Action):
    """``-c VALUE`` (liblinear's cost): a usage error that explains our C."""

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(
            f"-c is liblinear's cost, where larger C means less regularization; "
            f"sksvm's --C is a regularization strength, the opposite. Use "
            f"--liblinear-c {values} to convert liblinear's C, or --C for sksvm's")


def build_parser():
    """Build the ``sksvm`` argument parser, with its four subcommands.

    ``train`` and ``predict`` take data files (svmlight/libsvm or CSV, plain,
    ``.gz`` or ``.bz2``, or ``-`` for stdin) and model files (skops); ``info``
    describes a model file; ``bench`` runs the comparison with LinearSVC. Usage errors exit
    with status 2 after one line on stderr. Building the parser imports neither
    numba nor scikit-learn.

    Returns
    -------
    argparse.ArgumentParser
        The parser; ``parse_args`` returns the subcommand in ``command``.

    See Also
    --------
    main : Parse the arguments and run the command.

    Examples
    --------
    >>> from sksvm.cli import build_parser
    >>> args = build_parser().parse_args(
    ...     ["train", "data.svm", "-o", "model.skops", "--C", "1e-3"])
    >>> args.command, args.data, args.output, args.C
    ('train', 'data.svm', 'model.skops', 0.001)
    """
    parser = _Parser(
        prog="sksvm",
        description="Linear multiclass SVM (Weston-Watkins): train a model on a "
                    "svmlight/libsvm or CSV file, predict with it, describe it, or "
                    "compare it with LinearSVC.")
    from . import __version__
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True,
                                     metavar="{train,predict,info,bench}")

    data_help = ("a svmlight/libsvm file (label index:value ...) or a CSV file with "
                 "a label column; .gz and .bz2 files are decompressed, and - reads "
                 "standard input")
    train = commands.add_parser(
        "train", help="fit a model to a data file and save it",
        description="Fit LinearMulticlassSVM to DATA and save the model with skops "
                    "(or, with --cv, report its cross-validation accuracy).")
    train.add_argument("data", metavar="DATA", help=data_help)
    train.add_argument("-o", "--output", metavar="MODEL", default=None,
                       help=f"where to save the model, a skops file (default: DATA "
                            f"without .gz/.bz2, plus {MODEL_SUFFIX}; required when "
                            "DATA is -)")
    cost = train.add_mutually_exclusive_group()
    cost.add_argument("--C", type=_positive_float, default=None,
                      help=f"regularization strength: larger C, simpler model "
                           f"(default {DEFAULTS['C']:g}; the opposite of liblinear's "
                           "and LinearSVC's C)")
    cost.add_argument("--liblinear-c", type=_positive_float, metavar="C_LIBLINEAR",
                      default=None,
                      help="liblinear's C (-c), converted to sksvm's: for n unit-"
                           "weight samples, C = 2 / (n * C_LIBLINEAR) (n: the samples "
                           "in DATA; exact for binary problems)")
    train.add_argument("-c", metavar="C", action=_LiblinearCostHint,
                       help=argparse.SUPPRESS)
    train.add_argument("--loss", choices=LOSSES, default=DEFAULTS["loss"],
                       help="margin loss (default %(default)s)")
    train.add_argument("--solver", choices=SOLVERS, default=DEFAULTS["solver"],
                       help="optimization algorithm (default %(default)s)")
    train.add_argument("--margin", type=_positive_float, default=DEFAULTS["margin"],
                       help="the margin delta (default %(default)g)")
    train.add_argument("--no-intercept", action="store_true",
                       help="fit no intercepts")
    train.add_argument("--tol", type=_positive_float, default=DEFAULTS["tol"],
                       help="stopping tolerance (default %(default)g; for lbfgs and "
                            "dual_cd the relative duality gap)")
    train.add_argument("--max-iter", type=_positive_int, default=DEFAULTS["max_iter"],
                       help="maximum iterations or epochs (default %(default)s)")
    train.add_argument("--class-weight", type=_class_weight, metavar="WEIGHTS",
                       default=DEFAULTS["class_weight"],
                       help="'balanced' (weights inversely proportional to the class "
                            "frequencies) or label:weight,... (other classes weigh "
                            "1); like liblinear's -wi")
    train.add_argument("--random-state", type=_seed, metavar="SEED",
                       default=DEFAULTS["random_state"],
                       help="seed of the solvers' sample order and of the --cv "
                            "folds (default: a fresh one each run)")
    train.add_argument("--scale", choices=SCALERS, default="none",
                       help="scale the features first: standard (zero mean, unit "
                            "variance; dense data only) or maxabs (divide by the "
                            "largest absolute value; keeps sparse data sparse). The "
                            "saved model is then a Pipeline of the scaler and the "
                            "SVM, and predict applies both (default none)")
    train.add_argument("--cv", type=_fold_count, metavar="K", default=None,
                       help="k-fold cross-validation (like liblinear's -v): print "
                            "the mean accuracy over K stratified, shuffled folds and "
                            "save no model")
    train.add_argument("--threads", type=_positive_int, default=None,
                       help="numba threads (default: all)")
    _add_format_arguments(train)
    train.add_argument("--zero-based", action="store_true",
                       help="svmlight feature indices start at 0 (default: at 1, as "
                            "liblinear writes them, unless index 0 occurs)")
    train.add_argument("--label-column", metavar="COLUMN", default=None,
                       help="CSV label column, by name or position (negative from "
                            "the end; default: a column named label, class, target "
                            "or y, else the first, which is refused if it looks like "
                            "a feature)")
    train.add_argument("-v", "--verbose", action="store_true",
                       help="report progress on stderr, one line per iteration")

    predict = commands.add_parser(
        "predict", help="predict the labels of a data file",
        description="Predict the labels of DATA with a model saved by 'sksvm train'. "
                    "Prints the accuracy when DATA has labels.")
    predict.add_argument("data", metavar="DATA", help=data_help)
    predict.add_argument("model", metavar="MODEL", help="a model saved by sksvm train")
    predict.add_argument("-o", "--output", metavar="PREDICTIONS", default=None,
                         help="write one predicted label per line here (default: "
                              "stdout, with the accuracy on stderr)")
    predict.add_argument("--decision-values", action="store_true",
                         help="after each predicted label, write the decision values "
                              "(one per class; for two classes, one score, positive "
                              "for the second class), under a first line 'labels' "
                              "naming the classes of the columns")
    _add_format_arguments(predict)
    predict.add_argument("-v", "--verbose", action="store_true",
                         help="report timings on stderr")

    info = commands.add_parser(
        "info", help="describe a model file",
        description="Print what a model file holds: its pipeline steps, classes, "
                    "number of features, parameters and the certified duality gap "
                    "of its fit.")
    info.add_argument("model", metavar="MODEL", help="a model saved by sksvm train")

    bench = commands.add_parser(
        "bench", help="compare with LinearSVC on digits and on generated blobs",
        description="Fit LinearMulticlassSVM and LinearSVC (at matched "
                    "regularization, C_svc = 1 / (n C)) on sklearn's digits and on "
                    "40000 generated samples, and report accuracy, fit time and "
                    "certified duality gap. Takes under a minute.")
    bench.add_argument("--C", type=_positive_float, default=1e-3,
                       help="regularization strength (default 1e-3)")
    return parser


def _add_format_arguments(parser):
    parser.add_argument("--format", choices=["auto", "svmlight", "csv"],
                        default="auto",
                        help="data format (default: .csv files are CSV, .svm, "
                             ".libsvm, .svmlight, .txt files svmlight, others are "
                             "detected from the first line)")


def main(argv=None):
    """Run the ``sksvm`` command line.

    This is the ``sksvm`` console script and ``python -m sksvm``. Errors in the
    input (missing or malformed files, mismatched models and data, untrusted model
    files) are reported as one line on stderr, not as a traceback.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments after the program name; None uses ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 on success, 1 on an error (reported as one line on
        stderr), 2 on a usage error.

    See Also
    --------
    build_parser : The arguments each subcommand accepts.

    Examples
    --------
    >>> from sksvm.cli import main
    >>> main(["predict", "no-such-file.svm", "model.skops"])
    1
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        _check_train_output(parser, args)
    from ._io import DataError

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if args.command == "train":
                status = _train(args)
            elif args.command == "predict":
                status = _predict(args)
            elif args.command == "info":
                status = _info(args)
            else:
                from ._bench import compare

                compare(C=args.C)
                status = 0
        _report_warnings(caught)
    except DataError as exc:
        return _fail(str(exc))
    except (ValueError, OSError) as exc:
        return _fail(_describe(exc))
    except KeyboardInterrupt:
        print("sksvm: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # no traceback for users; say what happened
        return _fail(f"unexpected {type(exc).__name__}: {exc}")
    return status


def _check_train_output(parser, args):
    """Decide where ``train`` saves its model (nowhere with --cv), or a usage error."""
    if args.cv is not None:
        if args.output is not None:
            parser.error("--cv saves no model (like liblinear's -v); drop -o")
        return
    if args.output is None:
        from ._io import STDIN, strip_compression_suffix

        if args.data == STDIN:
            parser.error("reading the data from standard input (-): name the model "
                         "file with -o")
        # liblinear's train names its model after the data file, too.
        args.output = strip_compression_suffix(args.data) + MODEL_SUFFIX


def _describe(exc):
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    return " ".join(str(exc).split())


def _fail(message):
    print(f"sksvm: error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_ERROR


def _report_warnings(caught):
    seen = set()
    for warning in caught:
        text = " ".join(str(warning.message).split())
        if text not in seen:
            seen.add(text)
            print(f"sksvm: warning: {text}", file=sys.stderr)


def _log(args, message):
    if args.verbose:
        print(f"sksvm: {message}", file=sys.stderr, flush=True)


def _train(args):
    from ._io import DataError, final_estimator, read_data, save_model

    start = time.perf_counter()
    data = read_data(args.data, args.format, zero_based=True if args.zero_based else None,
                     label_column=args.label_column)
    if data.y is None:
        raise DataError(f"{args.data} has no labels to train on")
    classes = sorted(set(data.y.tolist()))
    _log(args, f"read {args.data}: {data.n_samples} samples, {data.n_features} "
               f"features, {len(classes)} classes ({data.layout['format']}, "
               f"{time.perf_counter() - start:.2f} s)")
    if len(classes) < 2:
        raise DataError(f"{args.data} has labels of one class only "
                        f"({_format_label(classes[0])}); at least 2 are needed")
    model = _make_model(args, data, classes)
    if args.cv is not None:
        return _cross_validate(args, model, data)
    _log(args, f"fitting {model!r}")
    start = time.perf_counter()
    # The solvers print their progress on stdout; send it to stderr with ours.
    with contextlib.redirect_stdout(sys.stderr):
        model.fit(data.X, data.y)
    estimator = final_estimator(model)
    gap = getattr(estimator, "duality_gap_", None)
    _log(args, f"fit in {time.perf_counter() - start:.2f} s, {estimator.n_iter_} "
               f"iterations"
               + (f", relative duality gap {gap:.2e}" if gap is not None else "")
               + f"; training accuracy {model.score(data.X, data.y):.4f}")
    save_model(model, args.output, data.layout)
    _log(args, f"saved the model to {args.output}")
    return 0


def _make_model(args, data, classes):
    """The estimator the options describe, in a Pipeline after a scaler if any."""
    from ._estimator import LinearMulticlassSVM

    if args.liblinear_c is not None:
        C = liblinear_c_to_sksvm(args.liblinear_c, data.n_samples)
        _log(args, f"C = 2 / ({data.n_samples} * {args.liblinear_c:g}) = {C:g} "
                   "(from --liblinear-c)")
    else:
        C = DEFAULTS["C"] if args.C is None else args.C
    class_weight = args.class_weight
    if isinstance(class_weight, dict):
        class_weight = _class_weight_by_class(class_weight, classes, args.data)
    estimator = LinearMulticlassSVM(
        C=C, loss=args.loss, solver=args.solver, margin=args.margin,
        fit_intercept=not args.no_intercept, tol=args.tol, max_iter=args.max_iter,
        class_weight=class_weight, random_state=args.random_state,
        n_threads=args.threads, verbose=int(args.verbose and args.cv is None))
    if args.scale == "none":
        return estimator
    from scipy.sparse import issparse
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MaxAbsScaler, StandardScaler

    if args.scale == "standard" and issparse(data.X):
        from ._io import DataError

        raise DataError(f"--scale standard centers the features, which would make "
                        f"the sparse data of {args.data} dense; use --scale maxabs")
    scaler = StandardScaler() if args.scale == "standard" else MaxAbsScaler()
    return make_pipeline(scaler, estimator)


def liblinear_c_to_sksvm(liblinear_c, n_samples):
    """sksvm's C for liblinear's C on ``n_samples`` unit-weight samples.

    liblinear minimizes ``||w||^2 / 2 + C_liblinear * sum of losses``; sksvm
    minimizes ``C / 2 * ||W||_F^2 + mean loss``, with the two-class problem's
    ``w = w_1 - w_0``. Both have the same minimizer when
    ``C = 2 / (n_samples * C_liblinear)``.

    Parameters
    ----------
    liblinear_c : float
        liblinear's ``-c``.
    n_samples : int
        The number of training samples.

    Returns
    -------
    float

    Examples
    --------
    >>> from sksvm.cli import liblinear_c_to_sksvm
    >>> liblinear_c_to_sksvm(1.0, 1000)
    0.002
    """
    return 2.0 / (n_samples * liblinear_c)


def _class_weight_by_class(weights, classes, data_name):
    """``{label text: weight}`` as ``{class: weight}`` for the classes in the data."""
    from ._io import DataError

    by_text = {_format_label(label): label for label in classes}
    numeric = all(isinstance(label, (int, float)) for label in classes)
    result = {}
    for text, weight in weights.items():
        label = by_text.get(text)
        if label is None and numeric:
            with contextlib.suppress(ValueError):
                label = next((c for c in classes if c == float(text)), None)
        if label is None:
            raise DataError(f"--class-weight names class {text!r}, which is not in "
                            f"{data_name} (its classes: "
                            f"{', '.join(by_text)})")
        result[label] = weight
    return result


def _cross_validate(args, model, data):
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    folds = StratifiedKFold(n_splits=args.cv, shuffle=True,
                            random_state=args.random_state)
    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        scores = cross_val_score(model, data.X, data.y, cv=folds,
                                 error_score="raise")
    _log(args, f"{args.cv} fits in {time.perf_counter() - start:.2f} s; fold "
               f"accuracies {' '.join(f'{s:.4f}' for s in scores)}")
    print(f"cross-validation accuracy: {scores.mean():.4f} (mean of {args.cv} "
          f"folds, standard deviation {scores.std():.4f})")
    return 0


def _predict(args):
    from ._io import final_estimator, load_model, read_data

    start = time.perf_counter()
    model, layout = load_model(args.model)
    estimator = final_estimator(model)
    n_features = estimator.n_features_in_
    _log(args, f"loaded {args.model}: {len(estimator.classes_)} classes, "
               f"{n_features} features")
    data = read_data(args.data, args.format, zero_based=layout.get("zero_based"),
                     label_column=layout.get("label_column"), n_features=n_features)
    _log(args, f"read {args.data}: {data.n_samples} samples "
               f"({time.perf_counter() - start:.2f} s)")
    predictions = model.predict(data.X)
    if args.decision_values:
        lines = _decision_value_lines(predictions, model.decision_function(data.X),
                                      estimator.classes_)
    else:
        lines = "".join(f"{_format_label(label)}\n" for label in predictions.tolist())
    if args.output is None:
        sys.stdout.write(lines)
        sys.stdout.flush()
    else:
        try:
            with open(args.output, "w", encoding="utf-8") as handle:
                handle.write(lines)
        except OSError as exc:
            from ._io import DataError

            raise DataError(f"cannot write {args.output}: "
                            f"{exc.strerror or exc}") from None
        _log(args, f"wrote {len(predictions)} predictions to {args.output}")
    if data.y is not None:
        correct = int(sum(p == t for p, t in zip(predictions.tolist(),
                                                  data.y.tolist())))
        line = (f"accuracy: {correct / len(predictions):.4f} "
                f"({correct}/{len(predictions)})")
        print(line, file=sys.stdout if args.output is not None else sys.stderr)
    return 0


def _decision_value_lines(predictions, scores, classes):
    """A ``labels ...`` line, then each prediction followed by its scores."""
    if scores.ndim == 1:  # two classes: one score, for the second class
        scores, classes = scores[:, None], classes[1:]
    header = " ".join(["labels", *(_format_label(c) for c in classes.tolist())])
    rows = (" ".join([_format_label(label), *map(repr, values)])
            for label, values in zip(predictions.tolist(), scores.tolist()))
    return "".join(f"{line}\n" for line in [header, *rows])


def _info(args):
    from ._io import final_estimator, load_model

    model, layout = load_model(args.model)
    estimator = final_estimator(model)
    steps = [type(step).__name__ for _, step in getattr(model, "steps", [])]
    classes = [_format_label(label) for label in estimator.classes_.tolist()]
    gap = getattr(estimator, "duality_gap_", None)
    fields = [
        ("model", args.model),
        ("pipeline", " -> ".join(steps) if steps else "none (the SVM alone)"),
        ("classes", f"{len(classes)}: {' '.join(classes)}"),
        ("features", estimator.n_features_in_),
        ("C", f"{estimator.C:g}"),
        ("loss", estimator.loss),
        ("margin", f"{estimator.margin:g}"),
        ("fit_intercept", estimator.fit_intercept),
        ("class_weight", estimator.class_weight),
        ("solver", f"{getattr(estimator, 'solver_', '?')} (requested "
                   f"{estimator.solver})"),
        ("iterations", getattr(estimator, "n_iter_", "?")),
        ("duality gap", "not available" if gap is None or gap != gap else
         f"{gap:.3g} (relative; certifies (J - J*) / J <= {gap:.3g})"),
        ("data", _describe_layout(layout)),
    ]
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        print(f"{name + ':':<{width + 1}} {value}")
    return 0


def _describe_layout(layout):
    if layout.get("format") == "svmlight":
        return ("svmlight, " + ("0-based" if layout.get("zero_based") else "1-based")
                + " feature indices")
    if layout.get("format") == "csv":
        return f"CSV, label column {layout.get('label_column')!r}"
    return "unknown (not saved by sksvm train)"


def _format_label(label):
    if isinstance(label, float) and label.is_integer():
        return str(int(label))
    return str(label)


if __name__ == "__main__":
    sys.exit(main())
