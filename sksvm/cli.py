"""Command line interface: ``sksvm`` / ``python -m sksvm``."""

import argparse
import sys


def build_parser():
    parser = argparse.ArgumentParser(
        prog="sksvm", description="Linear multiclass SVM (Weston-Watkins).")
    commands = parser.add_subparsers(dest="command", required=True)
    bench = commands.add_parser(
        "bench", help="fit sklearn's digits and compare with LinearSVC")
    bench.add_argument("--C", type=float, default=1e-3,
                       help="regularization strength (default 1e-3)")
    return parser


def main(argv=None):
    """Run the command line; returns the process exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "bench":
        from ._bench import compare_on_digits

        compare_on_digits(C=args.C)
    return 0


if __name__ == "__main__":
    sys.exit(main())
