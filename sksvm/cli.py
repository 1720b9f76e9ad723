"""Command line interface: ``sksvm`` / ``python -m sksvm``.

``sksvm train DATA -o MODEL``, ``sksvm predict DATA MODEL`` and ``sksvm bench``.
Errors are reported as one line on stderr with a non-zero exit status.
"""

import argparse
import contextlib
import sys
import time
import warnings

EXIT_ERROR = 1
EXIT_USAGE = 2


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


def build_parser():
    """Build the ``sksvm`` argument parser, with its three subcommands.

    ``train`` and ``predict`` take data files (svmlight/libsvm or CSV) and model
    files (skops); ``bench`` runs the digits comparison. Usage errors exit with
    status 2 after one line on stderr.

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
                    "svmlight/libsvm or CSV file, predict with it, or run the digits "
                    "benchmark.")
    from . import __version__
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True,
                                     metavar="{train,predict,bench}")

    data_help = ("a svmlight/libsvm file (label index:value ...) or a CSV file with "
                 "a label column")
    train = commands.add_parser(
        "train", help="fit a model to a data file and save it",
        description="Fit LinearMulticlassSVM to DATA and save the model with skops.")
    train.add_argument("data", metavar="DATA", help=data_help)
    train.add_argument("-o", "--output", metavar="MODEL", required=True,
                       help="where to save the model (a skops file)")
    defaults, options = _estimator_defaults()
    train.add_argument("--C", type=_positive_float, default=defaults["C"],
                       help="regularization strength: larger C, simpler model "
                            "(default %(default)g; the opposite of LinearSVC's C)")
    train.add_argument("--loss", choices=options["loss"], default=defaults["loss"],
                       help="margin loss (default %(default)s)")
    train.add_argument("--solver", choices=options["solver"],
                       default=defaults["solver"],
                       help="optimization algorithm (default %(default)s)")
    train.add_argument("--margin", type=_positive_float, default=defaults["margin"],
                       help="the margin delta (default %(default)g)")
    train.add_argument("--no-intercept", action="store_true",
                       help="fit no intercepts")
    train.add_argument("--tol", type=_positive_float, default=defaults["tol"],
                       help="stopping tolerance (default %(default)g; for lbfgs the "
                            "relative duality gap)")
    train.add_argument("--max-iter", type=_positive_int, default=defaults["max_iter"],
                       help="maximum iterations or epochs (default %(default)s)")
    train.add_argument("--threads", type=_positive_int, default=None,
                       help="numba threads (default: all)")
    _add_format_arguments(train)
    train.add_argument("--zero-based", action="store_true",
                       help="svmlight feature indices start at 0 (default: at 1, as "
                            "liblinear writes them, unless index 0 occurs)")
    train.add_argument("--label-column", metavar="COLUMN", default=None,
                       help="CSV label column, by name or position (negative from "
                            "the end; default: a column named label, class, target "
                            "or y, else the first)")
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
    _add_format_arguments(predict)
    predict.add_argument("-v", "--verbose", action="store_true",
                         help="report timings on stderr")

    bench = commands.add_parser(
        "bench", help="fit sklearn's digits and compare with LinearSVC",
        description="Fit LinearMulticlassSVM and LinearSVC on sklearn's digits and "
                    "report accuracy and fit time.")
    bench.add_argument("--C", type=_positive_float, default=1e-3,
                       help="regularization strength (default 1e-3)")
    return parser


def _estimator_defaults():
    """The estimator's default parameters, and the choices of its string options."""
    import inspect

    from ._estimator import LinearMulticlassSVM

    defaults = {name: parameter.default for name, parameter in
                inspect.signature(LinearMulticlassSVM).parameters.items()}
    options = {}
    for name in ("loss", "solver"):
        constraint = LinearMulticlassSVM._parameter_constraints[name][0]
        options[name] = sorted(constraint.options)
    return defaults, options


def _add_format_arguments(parser):
    parser.add_argument("--format", choices=["auto", "svmlight", "csv"],
                        default="auto",
                        help="data format (default: .csv files are CSV, others are "
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
    args = build_parser().parse_args(argv)
    from ._io import DataError

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if args.command == "train":
                status = _train(args)
            elif args.command == "predict":
                status = _predict(args)
            else:
                from ._bench import compare_on_digits

                compare_on_digits(C=args.C)
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
    from ._estimator import LinearMulticlassSVM
    from ._io import DataError, read_data, save_model

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
    model = LinearMulticlassSVM(
        C=args.C, loss=args.loss, solver=args.solver, margin=args.margin,
        fit_intercept=not args.no_intercept, tol=args.tol, max_iter=args.max_iter,
        n_threads=args.threads, verbose=int(args.verbose))
    _log(args, f"fitting {model!r}")
    start = time.perf_counter()
    # The solvers print their progress on stdout; send it to stderr with ours.
    with contextlib.redirect_stdout(sys.stderr):
        model.fit(data.X, data.y)
    gap = getattr(model, "duality_gap_", None)
    _log(args, f"fit in {time.perf_counter() - start:.2f} s, {model.n_iter_} "
               f"iterations"
               + (f", relative duality gap {gap:.2e}" if gap is not None else "")
               + f"; training accuracy {model.score(data.X, data.y):.4f}")
    save_model(model, args.output, data.layout)
    _log(args, f"saved the model to {args.output}")
    return 0


def _predict(args):
    from ._io import load_model, read_data

    start = time.perf_counter()
    model, layout = load_model(args.model)
    estimator = model[-1] if hasattr(model, "steps") else model
    n_features = estimator.n_features_in_
    _log(args, f"loaded {args.model}: {len(estimator.classes_)} classes, "
               f"{n_features} features")
    data = read_data(args.data, args.format, zero_based=layout.get("zero_based"),
                     label_column=layout.get("label_column"), n_features=n_features)
    _log(args, f"read {args.data}: {data.n_samples} samples "
               f"({time.perf_counter() - start:.2f} s)")
    predictions = model.predict(data.X)
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


def _format_label(label):
    if isinstance(label, float) and label.is_integer():
        return str(int(label))
    return str(label)


if __name__ == "__main__":
    sys.exit(main())
