"""Sparse text-like benchmark for ``solver="dual_cd"`` (issue 6).

A synthetic bag-of-words corpus: Zipf-distributed background term frequencies,
topics (each a Zipf distribution over its own random subset of the vocabulary),
class-dependent topic mixtures (every document draws its own mixture from its
class's Dirichlet), 10-50 distinct terms per document, and sublinear TF-IDF with
L2-normalized rows, as ``TfidfVectorizer`` gives.

Every solver is timed in the same run, on the same training split:

- ``LinearMulticlassSVM(solver="dual_cd")`` and ``(solver="lbfgs")``, each with
  ``tol=1e-3``: the time to a certified relative duality gap of 1e-3;
- ``LinearSVC()`` (one-vs-rest), ``LinearSVC(multi_class="crammer_singer")`` and
  ``SGDClassifier(loss="hinge")`` at their default tolerances, with the same
  regularization scale (``C_svc = 1 / (n C)``, ``alpha = C``; see MATH.md).

Without an intercept unless ``--intercept`` (LinearSVC penalizes its intercept,
so the problems compare best without one). Writes a markdown table to
``benchmarks/results/dual_cd_sparse_text.md`` (or ``--out``).

Usage::

    python benchmarks/sparse_text.py                    # 50k x 50k, 20 classes
    python benchmarks/sparse_text.py --n-docs 5000 --n-terms 5000 --repeats 1
    python benchmarks/sparse_text.py --fashion-mnist      # dense comparison
"""

import argparse
import os
import platform
import time
import warnings

import numpy as np
import scipy.sparse as sp


def make_sparse_text(n_docs=50_000, n_terms=50_000, n_classes=20, n_topics=None,
                     min_terms=12, max_terms=52, topic_size=1_000, zipf_a=1.1,
                     background=0.3, concentration=0.3, seed=0, dtype=np.float64):
    """A synthetic TF-IDF document-term matrix and its labels.

    Parameters
    ----------
    n_docs, n_terms, n_classes : int
    n_topics : int or None
        Number of topics; ``2 * n_classes`` by default. Class c prefers topics
        c and c + n_classes (mod n_topics) and mixes in the others.
    min_terms, max_terms : int
        Range of the number of tokens drawn per document; repeated terms make the
        number of distinct terms (nonzeros) somewhat smaller.
    topic_size : int
        Number of terms in each topic's support.
    zipf_a : float
        Exponent of the Zipf laws (background and within topics).
    background : float
        Probability that a token comes from the background distribution.
    concentration : float
        Dirichlet concentration of the non-preferred topics in a class mixture.
    seed : int
    dtype : numpy dtype
        float64 or float32.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_docs, n_terms)
    y : ndarray of shape (n_docs,)
    """
    from sklearn.feature_extraction.text import TfidfTransformer

    rng = np.random.default_rng(seed)
    n_topics = 2 * n_classes if n_topics is None else n_topics
    ranks = np.arange(1, n_terms + 1, dtype=np.float64)
    zipf = ranks ** -zipf_a
    background_cdf = np.cumsum(zipf / zipf.sum())
    # Each topic: a random subset of the vocabulary, Zipf-weighted in random order.
    topic_terms = np.stack([rng.choice(n_terms, size=topic_size, replace=False)
                            for _ in range(n_topics)])
    topic_weights = np.arange(1, topic_size + 1, dtype=np.float64) ** -zipf_a
    topic_cdf = np.cumsum(topic_weights / topic_weights.sum())
    # Class mixtures: Dirichlet parameters favouring two topics per class.
    class_alpha = np.full((n_classes, n_topics), concentration)
    for c in range(n_classes):
        class_alpha[c, c % n_topics] += 3.0
        class_alpha[c, (c + n_classes) % n_topics] += 2.0

    y = rng.integers(n_classes, size=n_docs)
    theta = rng.gamma(class_alpha[y])
    theta /= theta.sum(axis=1, keepdims=True)
    theta_cdf = np.cumsum(theta, axis=1)
    n_tokens = rng.integers(min_terms, max_terms + 1, size=n_docs)
    doc = np.repeat(np.arange(n_docs), n_tokens)
    total = doc.shape[0]
    from_background = rng.random(total) < background
    terms = np.empty(total, dtype=np.int64)
    nb = int(from_background.sum())
    terms[from_background] = np.minimum(
        np.searchsorted(background_cdf, rng.random(nb)), n_terms - 1)
    topical = np.flatnonzero(~from_background)
    u = rng.random(topical.shape[0])
    topic = np.empty(topical.shape[0], dtype=np.int64)
    for start in range(0, topical.shape[0], 200_000):  # bounded memory
        stop = min(start + 200_000, topical.shape[0])
        topic[start:stop] = (theta_cdf[doc[topical[start:stop]]]
                             < u[start:stop, None]).sum(axis=1)
    topic = np.minimum(topic, n_topics - 1)
    position = np.minimum(np.searchsorted(topic_cdf, rng.random(topical.shape[0])),
                          topic_size - 1)
    terms[topical] = topic_terms[topic, position]
    counts = sp.csr_matrix((np.ones(total), (doc, terms)), shape=(n_docs, n_terms))
    counts.sum_duplicates()
    X = TfidfTransformer(sublinear_tf=True).fit_transform(counts)
    X = sp.csr_matrix(X, dtype=dtype)
    X.sort_indices()
    return X, y


def _peer_objective_note():
    return ("LinearSVC and SGDClassifier solve other problems (one-vs-rest or "
            "Crammer-Singer); their times are fit times at their default "
            "tolerances, with C_svc = 1/(n C) and alpha = C.")


def _time(make, X, y, repeats):
    times, model = [], None
    for _ in range(repeats):
        model = make()
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), times, model


def run(n_docs, n_terms, n_classes, C, repeats, slow_repeats, fit_intercept, seed,
        out, dtype, skip):
    from sklearn.linear_model import SGDClassifier
    from sklearn.svm import LinearSVC

    from sksvm import LinearMulticlassSVM

    start = time.perf_counter()
    X, y = make_sparse_text(n_docs=n_docs + n_docs // 5, n_terms=n_terms,
                            n_classes=n_classes, seed=seed, dtype=dtype)
    gen_time = time.perf_counter() - start
    X_train, y_train = X[:n_docs], y[:n_docs]
    X_test, y_test = X[n_docs:], y[n_docs:]
    nnz_row = np.diff(X_train.indptr)
    n = X_train.shape[0]
    lines = []

    def say(line=""):
        print(line, flush=True)
        lines.append(line)

    say(f"# dual_cd on sparse text-like data ({n_docs} docs x {n_terms} terms, "
        f"{n_classes} classes)")
    say()
    say(f"Generated in {gen_time:.1f} s: {n} training / {X_test.shape[0]} test "
        f"documents, nonzeros per row min {nnz_row.min()} / median "
        f"{int(np.median(nnz_row))} / max {nnz_row.max()}, {X_train.nnz} "
        f"nonzeros, dtype {X_train.dtype}. C = {C:g}, fit_intercept = "
        f"{fit_intercept}. Machine: {os.cpu_count()} cores, "
        f"{platform.python_version()}, shared with other work (times are "
        f"indicative).")
    say()
    # Compile (or load from cache) the numba kernels outside the timings.
    for solver in ("dual_cd", "lbfgs"):
        LinearMulticlassSVM(C=C, solver=solver, fit_intercept=fit_intercept,
                            max_iter=2).fit(X_train[:200], y_train[:200])

    ours = {
        "dual_cd": lambda: LinearMulticlassSVM(
            C=C, solver="dual_cd", tol=1e-3, fit_intercept=fit_intercept,
            random_state=0, max_iter=10_000),
        "dual_cd (no shrinking)": lambda: LinearMulticlassSVM(
            C=C, solver="dual_cd", tol=1e-3, fit_intercept=fit_intercept,
            random_state=0, max_iter=10_000, solver_options={"shrinking": False}),
        "lbfgs": lambda: LinearMulticlassSVM(
            C=C, solver="lbfgs", tol=1e-3, fit_intercept=fit_intercept,
            max_iter=20_000),
    }
    C_svc = 1.0 / (n * C)
    peers = {
        "LinearSVC() ovr": lambda: LinearSVC(C=C_svc, fit_intercept=fit_intercept),
        "LinearSVC crammer_singer": lambda: LinearSVC(
            C=C_svc, multi_class="crammer_singer", fit_intercept=fit_intercept),
        "SGDClassifier(hinge)": lambda: SGDClassifier(
            loss="hinge", alpha=C, fit_intercept=fit_intercept, random_state=0),
    }
    slow = {"lbfgs", "LinearSVC crammer_singer", "dual_cd (no shrinking)"}
    rows = {}
    for name, make in {**ours, **peers}.items():
        if name in skip:
            continue
        reps = slow_repeats if name in slow else repeats
        median, times, model = _time(make, X_train, y_train, reps)
        record = dict(time=median, times=times,
                      acc=float(model.score(X_test, y_test)))
        if name in ours:
            record["gap"] = float(model.duality_gap_)
            record["n_iter"] = int(model.n_iter_)
            record["objective"] = float(model.objective(X_train, y_train))
        rows[name] = record
        extra = (f"  gap {record['gap']:.2e}  epochs/iters {record['n_iter']}"
                 if "gap" in record else "")
        print(f"  {name}: {median:.2f} s (runs {', '.join(f'{t:.2f}' for t in times)})"
              f"  test acc {record['acc']:.4f}{extra}", flush=True)

    say("| solver | problem | fit time (s), median | runs | certified rel. gap "
        "| our objective J | test accuracy |")
    say("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        problem = ("Weston-Watkins" if name in ours else
                   "Crammer-Singer" if "crammer" in name else "one-vs-rest")
        gap = f"{r['gap']:.2e}" if "gap" in r else "-"
        obj = f"{r['objective']:.6f}" if "objective" in r else "-"
        say(f"| {name} | {problem} | {r['time']:.2f} | {len(r['times'])} | {gap} | "
            f"{obj} | {r['acc']:.4f} |")
    say()
    if "dual_cd" in rows:
        base = rows["dual_cd"]["time"]
        say("Ratios (dual_cd time / other time, same run):")
        say()
        for name, r in rows.items():
            if name != "dual_cd":
                say(f"- vs {name}: {base / r['time']:.3f}")
        say()
    say(_peer_objective_note())
    if out:
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        print(f"wrote {out}")
    return rows


def run_fashion_mnist(C, fit_intercepts, out, max_seconds_note=""):
    """dual_cd against lbfgs on standardized Fashion-MNIST (dense, 60000 x 784),
    both to a certified relative gap of 1e-3, in the same run."""
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from datasets import load_fashion_mnist

    from sksvm import LinearMulticlassSVM

    X, y, X_test, y_test = load_fashion_mnist(standardize=True)
    lines = []

    def say(line=""):
        print(line, flush=True)
        lines.append(line)

    say(f"# dual_cd vs lbfgs on standardized Fashion-MNIST ({X.shape[0]} x "
        f"{X.shape[1]}, 10 classes, C = {C:g}, tol = 1e-3)")
    say()
    say("| solver | fit_intercept | fit time (s) | iterations/epochs | certified rel. "
        "gap | objective J | test accuracy |")
    say("|---|---|---|---|---|---|---|")
    for fit_intercept in fit_intercepts:
        for solver in ("dual_cd", "lbfgs"):
            LinearMulticlassSVM(C=C, solver=solver, fit_intercept=fit_intercept,
                                max_iter=2).fit(X[:300], y[:300])  # compile
            model = LinearMulticlassSVM(C=C, solver=solver, tol=1e-3,
                                        fit_intercept=fit_intercept, random_state=0,
                                        max_iter=20_000)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(X, y)
            elapsed = time.perf_counter() - start
            say(f"| {solver} | {fit_intercept} | {elapsed:.1f} | {model.n_iter_} | "
                f"{model.duality_gap_:.2e} | {model.objective(X, y):.6f} | "
                f"{model.score(X_test, y_test):.4f} |")
    say()
    if out:
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        print(f"wrote {out}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-docs", type=int, default=50_000)
    parser.add_argument("--n-terms", type=int, default=50_000)
    parser.add_argument("--n-classes", type=int, default=20)
    parser.add_argument("--C", type=float, default=1e-4)
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of the fast solvers (median reported)")
    parser.add_argument("--slow-repeats", type=int, default=1,
                        help="runs of lbfgs, crammer_singer and no-shrinking dual_cd")
    parser.add_argument("--intercept", action="store_true")
    parser.add_argument("--float32", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", default="", help="comma-separated solver names")
    parser.add_argument("--out", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "results",
        "dual_cd_sparse_text.md"))
    parser.add_argument("--fashion-mnist", action="store_true",
                        help="instead: dual_cd vs lbfgs on standardized "
                             "Fashion-MNIST (C = --C, default 1e-3 there)")
    args = parser.parse_args(argv)
    if args.fashion_mnist:
        C = 1e-3 if args.C == 1e-4 else args.C
        out = args.out
        if out.endswith("dual_cd_sparse_text.md"):
            out = out.replace("dual_cd_sparse_text.md", "dual_cd_fashion_mnist.md")
        run_fashion_mnist(C, (True, False), out)
        return
    run(args.n_docs, args.n_terms, args.n_classes, args.C, args.repeats,
        args.slow_repeats, args.intercept, args.seed, args.out,
        np.float32 if args.float32 else np.float64,
        {s.strip() for s in args.skip.split(",") if s.strip()})


if __name__ == "__main__":
    main()
