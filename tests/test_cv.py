"""LinearMulticlassSVMCV: the warm-started regularization path and its C_max."""

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import (GridSearchCV, GroupKFold, ShuffleSplit,
                                     StratifiedKFold)
from sklearn.utils.estimator_checks import (
    check_sample_weight_equivalence_on_dense_data,
    check_sample_weight_equivalence_on_sparse_data, parametrize_with_checks)

from sksvm import LinearMulticlassSVM, LinearMulticlassSVMCV
from sksvm._cv import _joined_segments, _path_segments, largest_useful_C

from _helpers import count_calls, record_calls
from _reference import cvxpy_optimum, numpy_objective
from conftest import make_problem, random_weights


@parametrize_with_checks(
    [LinearMulticlassSVMCV(Cs=3, C_ratio=1e-2, cv=3, n_threads=1)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("check", [check_sample_weight_equivalence_on_dense_data,
                                   check_sample_weight_equivalence_on_sparse_data])
def test_single_C_weights_are_repeated_rows(check):
    check("LinearMulticlassSVMCV", LinearMulticlassSVMCV(Cs=[1e-2], cv=3))


# -- the largest useful C ------------------------------------------------------------

def reference_closed_form(X, y, k, sample_weight):
    """G = C·W(ᾱ) at ᾱ_ij = s_i/S, from MATH.md's W(α), one pair at a time."""
    S = sample_weight.sum()
    G = np.zeros((k, X.shape[1]))
    for i in range(X.shape[0]):
        for j in range(k):
            if j != y[i]:
                G[y[i]] += sample_weight[i] / S * X[i]
                G[j] -= sample_weight[i] / S * X[i]
    return G


def reference_C_max(X, y, k, sample_weight, margin=1.0):
    """The smallest C with every margin δ + (G_j − G_{y_i})·x_i / C ≥ 0."""
    G = reference_closed_form(X, y, k, sample_weight)
    return max((G[y[i]] - G[j]) @ X[i] / margin
               for i in range(len(y)) for j in range(k) if j != y[i])


@pytest.mark.parametrize("margin", [1.0, 0.5])
def test_C_max_matches_the_reference(margin):
    X, y = make_problem(n=30, d=4, k=3, seed=2)
    weights = random_weights(30)
    expected = reference_C_max(X, y, 3, weights, margin)
    assert_allclose(largest_useful_C(X, y, weights, 3, "hinge", margin), expected,
                    rtol=1e-12)
    assert_allclose(largest_useful_C(X, y, weights, 3, "squared_hinge", margin),
                    2 * margin * expected, rtol=1e-12)


@pytest.mark.parametrize("kind", ["float64", "float32", "csr"])
def test_C_max_in_row_blocks_matches_the_reference(monkeypatch, kind):
    """X is read a few rows at a time (float32 converted block by block)."""
    import sksvm._objective as objective_module

    monkeypatch.setattr(objective_module, "_C_MAX_BLOCK_ROWS", 7)
    X, y = make_problem(n=30, d=4, k=3, seed=2)
    weights = random_weights(30)
    X = X.astype(np.float32)
    expected = reference_C_max(X.astype(np.float64), y, 3, weights, 1.0)
    X = sp.csr_matrix(X) if kind == "csr" else X
    X = X.astype(np.float64) if kind == "float64" else X
    assert_allclose(largest_useful_C(X, y, weights, 3), expected, rtol=1e-12)


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
def test_C_max_stopped_early_is_a_lower_bound_above_the_threshold(monkeypatch, loss):
    """``stop_above`` ends the pass at the first block whose value exceeds it:
    the result still tells on which side of it C_max lies."""
    import sksvm._objective as objective_module

    monkeypatch.setattr(objective_module, "_C_MAX_BLOCK_ROWS", 5)
    X, y = make_problem(n=30, d=4, k=3, seed=2)
    weights = random_weights(30)
    exact = largest_useful_C(X, y, weights, 3, loss)
    for threshold in (1e-6 * exact, 0.5 * exact, 0.999 * exact):
        bound = largest_useful_C(X, y, weights, 3, loss, stop_above=threshold)
        assert threshold < bound <= exact
    for threshold in (exact, 2 * exact):
        assert largest_useful_C(X, y, weights, 3, loss, stop_above=threshold) == exact


@pytest.mark.parametrize("solver", ["dual_cd", "lbfgs"])
def test_above_C_max_the_solution_is_the_closed_form(solver):
    X, y = make_problem(n=40, d=5, k=4, seed=3)
    weights = random_weights(40)
    G = reference_closed_form(X, y, 4, weights)
    C_max = largest_useful_C(X, y, weights, 4)
    fits = {factor: LinearMulticlassSVM(C=factor * C_max, solver=solver,
                                        fit_intercept=False, tol=1e-8,
                                        n_threads=1).fit(X, y, sample_weight=weights)
            for factor in (1.0, 10.0, 0.1)}
    for factor in (1.0, 10.0):
        assert_allclose(fits[factor].coef_ * factor * C_max, G, rtol=1e-4, atol=1e-6)
    assert_array_equal(fits[1.0].predict(X), fits[10.0].predict(X))
    assert_array_equal(fits[1.0].predict(X), np.argmax(X @ G.T, axis=1))
    # Below C_max some dual variables leave their upper bound: not the closed form.
    deviation = np.linalg.norm(fits[0.1].coef_ * 0.1 * C_max - G)
    assert deviation > 0.05 * np.linalg.norm(G)


def test_C_max_with_an_intercept_and_balanced_class_totals():
    X, y = make_problem(n=40, d=5, k=4, seed=4)
    y = np.where(np.arange(40) < 16, 0, y)  # unbalanced counts ...
    model = LinearMulticlassSVMCV(class_weight="balanced")
    counts = np.bincount(y)
    weights = (len(y) / (4 * counts))[y]  # ... balanced by the class weights
    G = reference_closed_form(X, y, 4, weights)
    C_max = largest_useful_C(X, y, weights, 4)
    assert_allclose(model.fit(X, y).C_max_, C_max, rtol=1e-12)
    for factor in (1.0, 10.0):
        fit = LinearMulticlassSVM(C=factor * C_max, class_weight="balanced",
                                  solver="lbfgs", tol=1e-8, n_threads=1).fit(X, y)
        assert_allclose(fit.coef_ * factor * C_max, G, rtol=1e-3, atol=1e-5)


def test_squared_hinge_margins_stay_positive_above_its_C_max():
    X, y = make_problem(n=40, d=5, k=4, seed=5)
    C_max = largest_useful_C(X, y, np.ones(40), 4, "squared_hinge")

    def smallest_margin(C):
        fit = LinearMulticlassSVM(C=C, loss="squared_hinge", fit_intercept=False,
                                  tol=1e-8, n_threads=1).fit(X, y)
        scores = X @ fit.coef_.T
        margins = 1.0 + scores - scores[np.arange(40), y][:, None]
        margins[np.arange(40), y] = np.inf
        return margins.min()

    assert smallest_margin(2 * C_max) > 0
    assert smallest_margin(C_max / 10) < 0


# -- the path against grid search and cold fits --------------------------------------

@pytest.mark.parametrize("solver", ["dual_cd", "lbfgs"])
def test_same_choice_as_grid_search(solver):
    X, y = make_problem(n=60, d=5, k=3, seed=6, noise=2.0)
    # Below C_max: cold "dual_cd" fits with an intercept converge slowly above it.
    Cs = largest_useful_C(X, y, np.ones(60), 3) * np.logspace(-1, -3, 5)
    splitter = StratifiedKFold(3, shuffle=True, random_state=0)
    settings = dict(solver=solver, tol=1e-6, random_state=0, n_threads=1)
    path = LinearMulticlassSVMCV(Cs=Cs, cv=splitter, **settings).fit(X, y)
    search = GridSearchCV(LinearMulticlassSVM(**settings), {"C": list(path.Cs_)},
                          cv=splitter).fit(X, y)
    assert path.C_ == search.best_params_["C"]
    grid_scores = np.array([search.cv_results_[f"split{fold}_test_score"]
                            for fold in range(3)])
    assert_allclose(path.scores_, grid_scores)
    assert_allclose(path.coef_, search.best_estimator_.coef_, rtol=1e-3, atol=1e-4)
    for fold, (train, _) in enumerate(splitter.split(X, y)):
        for column, C in enumerate(path.Cs_):
            cold = LinearMulticlassSVM(C=C, **settings).fit(X[train], y[train])
            cold_objective = numpy_objective(cold.coef_, cold.intercept_, X[train],
                                             y[train], C)[0]
            assert_allclose(path.objectives_[fold, column], cold_objective,
                            rtol=1e-3)


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
def test_every_point_of_the_path_is_certified(loss):
    X, y = make_problem(n=50, d=6, k=4, seed=7)
    tol = 1e-3
    splitter = StratifiedKFold(3, shuffle=True, random_state=1)
    path = LinearMulticlassSVMCV(Cs=6, C_ratio=1e-3, cv=splitter, loss=loss,
                                 tol=tol, random_state=0, n_threads=1).fit(X, y)
    assert np.all(path.duality_gaps_ <= tol)
    assert_allclose(path.Cs_[0], path.C_max_)
    for fold, (train, _) in enumerate(splitter.split(X, y)):
        for column, C in enumerate(path.Cs_):
            cold = LinearMulticlassSVM(C=C, loss=loss, tol=tol, random_state=0,
                                       n_threads=1).fit(X[train], y[train])
            cold_objective = numpy_objective(cold.coef_, cold.intercept_, X[train],
                                             y[train], C, loss=loss)[0]
            # Both are within tol (relative) of the optimum.
            assert abs(path.objectives_[fold, column] - cold_objective) <= (
                tol * max(path.objectives_[fold, column], cold_objective))


# -- weights ---------------------------------------------------------------------

def _repeated(X, y, repeats, folds):
    """X, y with row i repeated repeats[i] times, and the folds on the new rows."""
    X_repeated, y_repeated = np.repeat(X, repeats, axis=0), np.repeat(y, repeats)
    positions = np.split(np.arange(repeats.sum()), np.cumsum(repeats)[:-1])
    repeated_folds = [(np.concatenate([positions[i] for i in train]),
                       np.concatenate([positions[i] for i in test]))
                      for train, test in folds]
    return X_repeated, y_repeated, repeated_folds


def test_sample_weight_is_repeating_rows():
    X, y = make_problem(n=45, d=4, k=3, seed=8, noise=2.0)
    repeats = random_weights(45, integer=True).astype(int)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    X_repeated, y_repeated, repeated_folds = _repeated(X, y, repeats, folds)
    settings = dict(Cs=5, tol=1e-7, fit_intercept=False, n_threads=1)
    weighted = LinearMulticlassSVMCV(cv=folds, **settings).fit(
        X, y, sample_weight=repeats.astype(float))
    repeated = LinearMulticlassSVMCV(cv=repeated_folds, **settings).fit(
        X_repeated, y_repeated)
    assert_allclose(weighted.C_max_, repeated.C_max_, rtol=1e-10)
    assert_allclose(weighted.scores_, repeated.scores_)
    assert weighted.C_ == repeated.C_
    assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-4, atol=1e-5)
    # The weights matter: unit weights give other scores.
    unweighted = LinearMulticlassSVMCV(cv=folds, **settings).fit(X, y)
    assert not np.allclose(unweighted.C_max_, weighted.C_max_)


def test_class_weight_is_repeating_the_rows_of_a_class():
    X, y = make_problem(n=45, d=4, k=3, seed=9, noise=2.0)
    repeats = np.where(y == 1, 3, 1)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    X_repeated, y_repeated, repeated_folds = _repeated(X, y, repeats, folds)
    settings = dict(Cs=5, tol=1e-7, fit_intercept=False, n_threads=1,
                    scoring="balanced_accuracy")
    weighted = LinearMulticlassSVMCV(cv=folds, class_weight={0: 1, 1: 3, 2: 1},
                                     **settings).fit(X, y)
    repeated = LinearMulticlassSVMCV(cv=repeated_folds, **settings).fit(
        X_repeated, y_repeated)
    assert_allclose(weighted.C_max_, repeated.C_max_, rtol=1e-10)
    assert_allclose(weighted.objectives_ / repeated.objectives_, 1.0, rtol=1e-3)
    assert_allclose(weighted.scores_, repeated.scores_)
    assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-4, atol=1e-5)


# -- API ---------------------------------------------------------------------------

def test_attributes_and_delegation():
    X, y = make_problem(n=40, d=4, k=3, seed=10)
    model = LinearMulticlassSVMCV(Cs=4, cv=3, n_threads=1).fit(X, y)
    assert model.Cs_.shape == (4,) and np.all(np.diff(model.Cs_) < 0)
    for name in ("scores_", "n_iter_", "duality_gaps_", "objectives_"):
        assert getattr(model, name).shape == (3, 4)
    assert model.C_ in model.Cs_
    best = model.best_estimator_
    assert best.C == model.C_
    assert_array_equal(model.predict(X), best.predict(X))
    assert_allclose(model.decision_function(X), best.decision_function(X))
    assert model.score(X, y) == best.score(X, y)
    assert model.solver_ == best.solver_ and model.duality_gap_ == best.duality_gap_
    assert_allclose(model.coef_, best.coef_)


def test_without_refit_there_is_no_model():
    X, y = make_problem(n=30, d=3, k=3, seed=11)
    model = LinearMulticlassSVMCV(Cs=3, cv=3, refit=False, n_threads=1).fit(X, y)
    assert model.C_ in model.Cs_
    with pytest.raises(NotFittedError, match="refit=True"):
        model.predict(X)


@pytest.mark.parametrize("Cs", [[], [1.0, -1.0], [np.inf], [[0.1, np.nan]]])
def test_bad_Cs_raise(Cs):
    X, y = make_problem(n=30, d=3, k=3, seed=12)
    with pytest.raises(ValueError, match="Cs must be"):
        LinearMulticlassSVMCV(Cs=Cs, cv=3).fit(X, y)


def test_C_ratio_sets_the_span_of_the_path():
    X, y = make_problem(n=30, d=3, k=3, seed=13)
    model = LinearMulticlassSVMCV(Cs=3, C_ratio=1e-2, cv=3, n_threads=1).fit(X, y)
    assert_allclose(model.Cs_, model.C_max_ * np.array([1, 1e-1, 1e-2]))


def test_parallel_folds_give_the_same_path():
    X, y = make_problem(n=40, d=4, k=3, seed=14)
    settings = dict(Cs=3, cv=3, random_state=0, tol=1e-6)
    serial = LinearMulticlassSVMCV(n_jobs=1, **settings).fit(X, y)
    parallel = LinearMulticlassSVMCV(n_jobs=2, **settings).fit(X, y)
    assert_allclose(parallel.scores_, serial.scores_)
    assert_allclose(parallel.objectives_, serial.objectives_, rtol=1e-6)


@pytest.mark.parametrize("n_folds, n_Cs, n_jobs, pieces_of_last",
                         [(5, 10, 1, 1), (5, 10, 2, 2), (5, 10, 4, 4), (4, 10, 2, 1),
                          (3, 3, 2, 2), (5, 2, 4, 2), (7, 10, 3, 3)])
def test_path_segments_cover_each_fold_and_C_once(n_folds, n_Cs, n_jobs,
                                                  pieces_of_last):
    """Every (fold, C) is fitted once, each fold's segments are consecutive and
    joined back in order, and only folds left over after the full rounds of
    ``n_jobs`` workers are cut (into as many pieces as idle workers, at most one
    per C)."""
    segments = _path_segments(n_folds, n_Cs, n_jobs)
    covered = [(fold, index) for fold, start, stop in segments
               for index in range(start, stop)]
    assert sorted(covered) == [(fold, index) for fold in range(n_folds)
                               for index in range(n_Cs)]
    pieces = np.bincount([fold for fold, _, _ in segments], minlength=n_folds)
    n_whole = n_folds - n_folds % n_jobs
    assert np.all(pieces[:n_whole] == 1) and np.all(pieces[n_whole:] == pieces_of_last)
    # Each segment's result stands for a _fold_path result over its values of C.
    parts = [dict(classes=fold, coefs=list(range(start, stop)), intercepts=[],
                  duals=[], scores=np.arange(start, stop, dtype=float),
                  n_iter=np.zeros(stop - start), duality_gaps=np.zeros(stop - start),
                  objectives=np.full(stop - start, fold))
             for fold, start, stop in segments]
    for fold, path in enumerate(_joined_segments(segments, parts, n_folds)):
        assert path["classes"] == fold and np.all(path["objectives"] == fold)
        assert_array_equal(path["scores"], np.arange(n_Cs))
        assert path["coefs"] == list(range(n_Cs))


def test_metadata_routing_groups_and_weighted_scores():
    X, y = make_problem(n=48, d=4, k=3, seed=15)
    groups = np.arange(48) % 4
    weights = random_weights(48)
    with pytest.raises(ValueError, match="groups"):
        LinearMulticlassSVMCV(Cs=2, cv=GroupKFold(4)).fit(X, y, groups=groups)
    with sklearn.config_context(enable_metadata_routing=True):
        from sklearn.metrics import get_scorer
        scorer = get_scorer("accuracy").set_score_request(sample_weight=True)
        model = LinearMulticlassSVMCV(Cs=2, cv=GroupKFold(4), scoring=scorer,
                                      tol=1e-8, fit_intercept=False, n_threads=1)
        model.fit(X, y, sample_weight=weights, groups=groups)
        assert model.scores_.shape == (4, 2)
        folds = list(GroupKFold(4).split(X, y, groups))
        fold_model = LinearMulticlassSVM(C=model.Cs_[-1], tol=1e-8,
                                         fit_intercept=False, n_threads=1).fit(
            X[folds[0][0]], y[folds[0][0]], sample_weight=weights[folds[0][0]])
        test = folds[0][1]
        expected = np.average(fold_model.predict(X[test]) == y[test],
                              weights=weights[test])
        assert_allclose(model.scores_[0, -1], expected, atol=1e-12)


# -- the refit from the folds' solutions ------------------------------------------------

@pytest.mark.parametrize("solver", ["newton", "dual_cd", "lbfgs"])
@pytest.mark.parametrize("case", ["intercept", "no_intercept", "weights",
                                  "balanced", "sparse", "shuffle_split"])
def test_the_refit_is_certified_at_the_optimum(solver, case):
    """The refit starts from the folds' mean solution (with the mean dual point for
    the dual solvers, where it is feasible); wherever it starts it must end within
    its certified gap of cvxpy's optimum at C_."""
    X, y = make_problem(n=60, d=5, k=3, seed=11, noise=2.0)
    settings = dict(solver=solver, tol=1e-6, random_state=0, n_threads=1,
                    Cs=4, C_ratio=1e-3, cv=StratifiedKFold(3, shuffle=True,
                                                            random_state=0))
    sample_weight = None
    if case == "no_intercept":
        settings["fit_intercept"] = False
    elif case == "weights":
        sample_weight = random_weights(60, seed=3, integer=True)
    elif case == "balanced":
        y = np.where(np.arange(60) < 10, 0, y)  # unbalanced classes
        settings["class_weight"] = "balanced"
    elif case == "sparse":
        X = sp.csr_matrix(make_problem(n=60, d=5, k=3, seed=11, noise=2.0,
                                       sparsity=0.5)[0])
    elif case == "shuffle_split":  # samples sit in different numbers of folds
        settings["cv"] = ShuffleSplit(3, test_size=0.3, random_state=0)
    model = LinearMulticlassSVMCV(**settings).fit(X, y, sample_weight=sample_weight)
    weights = None if sample_weight is None else sample_weight.astype(float)
    if case == "balanced":
        counts = np.bincount(y)
        weights = (len(y) / (3 * counts))[y]
    _, _, optimum = cvxpy_optimum(X, y, 3, model.C_, sample_weight=weights,
                                  fit_intercept=case != "no_intercept")
    value = numpy_objective(model.coef_, model.intercept_, X, y, model.C_,
                            sample_weight=weights)[0]
    assert model.duality_gap_ <= 1e-6
    assert value - optimum <= model.duality_gap_ * abs(value) + 1e-9
    assert value - optimum >= -1e-7 * abs(optimum)


def test_the_refit_with_a_class_missing_from_a_fold():
    """A fold without one of the classes gives no start: the refit starts from
    scratch and still ends at the optimum."""
    X, y = make_problem(n=45, d=4, k=3, seed=12)
    y = np.where(np.arange(45) < 3, 2, np.where(y == 2, 0, y))  # class 2: rows 0-2
    folds = [(np.arange(3, 45), np.arange(0, 3)),  # no class 2 in training
             (np.arange(0, 30), np.arange(30, 45)),
             (np.r_[0:15, 30:45], np.arange(15, 30))]
    model = LinearMulticlassSVMCV(Cs=3, cv=folds, tol=1e-8, n_threads=1).fit(X, y)
    _, _, optimum = cvxpy_optimum(X, y, 3, model.C_)
    assert model.duality_gap_ <= 1e-8
    assert_allclose(model.best_estimator_.objective(X, y), optimum, rtol=1e-7)


@pytest.mark.parametrize("solver", ["newton", "dual_cd"])
def test_the_refit_starts_from_a_feasible_mean_dual_point(monkeypatch, solver):
    """The mean of the folds' dual points, mapped to the whole data's box, is in the
    box and reaches the refit's solver."""
    import sksvm._estimator as estimator_module
    from sksvm._solvers.dual_cd import DualCDState, data_fingerprint

    X, y = make_problem(n=60, d=5, k=3, seed=13, noise=2.0)
    sample_weight = random_weights(60, seed=4)
    starts = []
    original_solve = estimator_module.solve

    def recording_solve(name, objective, start, **kwargs):
        starts.append((objective, start))
        return original_solve(name, objective, start, **kwargs)

    monkeypatch.setattr(estimator_module, "solve", recording_solve)
    LinearMulticlassSVMCV(Cs=3, cv=3, solver=solver, n_threads=1).fit(
        X, y, sample_weight=sample_weight)
    objective, start = starts[-1]  # the refit
    assert isinstance(start.state, DualCDState)
    assert start.state.fingerprint == data_fingerprint(objective.X, objective.y)
    alpha = start.state.alpha
    bound = sample_weight / sample_weight.sum()
    assert np.all(alpha >= 0) and np.all(alpha <= bound[:, None] * (1 + 1e-6))
    assert_array_equal(alpha[np.arange(60), y], 0.0)
    # Not all at a bound: the folds' points carry their free pairs into it.
    assert np.any((alpha > 0) & (alpha < bound[:, None] * (1 - 1e-6)))
    # Its weights come with it: W(α) = −AᵀX/C, A_ij = α_ij off the label and
    # −Σ_j α_ij on it.
    A = alpha.copy()
    A[np.arange(60), y] = -alpha.sum(axis=1)
    assert_allclose(start.coef, -A.T @ X / objective.C, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("solver, refit, kept", [
    ("dual_cd", True, "duals"), ("lbfgs", True, "coefs"), ("dual_cd", False, None)])
def test_a_path_returns_only_what_the_refit_starts_from(monkeypatch, solver, refit,
                                                        kept):
    """A fold's path returns its dual points where they make the refit's start,
    its weights where they do not, and neither without a refit (a path's weights
    on wide data would be most of what the folds return)."""
    import sksvm._cv as cv_module

    joins = record_calls(monkeypatch, cv_module, "_joined_segments")
    X, y = make_problem(n=60, d=5, k=3, seed=13, noise=2.0)
    LinearMulticlassSVMCV(Cs=3, cv=3, solver=solver, refit=refit,
                          n_threads=1).fit(X, y)
    [(_, paths)] = joins
    assert len(paths) == 3
    for name in ("duals", "coefs"):
        entries = [entry for path in paths for entry in path[name]]
        assert len(entries) == 9
        assert all((entry is not None) == (name == kept) for entry in entries), name


@pytest.mark.parametrize("fit_intercept, sparse, options", [
    (True, False, None), (False, False, None), (True, True, None),
    (True, True, {"shrinking": False})])
def test_a_path_runs_the_solver_auto_gives_at_every_point(
        monkeypatch, fit_intercept, sparse, options):
    """Outside ``newton.is_cheap`` (here k·(d + 1) > 2500) "auto" gives the hinge
    "newton" on dense data and "dual_cd" on sparse data; every point of the path
    runs it, its top near C_max with an intercept included (where "newton" used
    to run while "dual_cd" stalled), and every point is certified."""
    import sksvm._estimator as estimator_module

    X, y = make_problem(n=90, d=300, k=10, seed=3)
    X = sp.csr_matrix(X) if sparse else X
    names = []
    original_solve = estimator_module.solve

    def recording_solve(name, objective, start, **kwargs):
        names.append(name)
        return original_solve(name, objective, start, **kwargs)

    monkeypatch.setattr(estimator_module, "solve", recording_solve)
    model = LinearMulticlassSVMCV(Cs=3, cv=3, fit_intercept=fit_intercept,
                                  n_threads=1, solver_options=options).fit(X, y)
    assert names == ["dual_cd" if sparse else "newton"] * 10
    assert np.all(model.duality_gaps_ <= model.tol)


def test_path_folds_skip_the_exact_finish_and_the_refit_does_not(monkeypatch):
    """The folds need their certified tol only: the Newton solver's exact
    finishing step runs for the refit alone."""
    import sksvm._solvers.newton as newton_module

    calls = []
    finish = newton_module._finish_exactly
    monkeypatch.setattr(newton_module, "_finish_exactly",
                        lambda *args: calls.append(1) or finish(*args))
    X, y = make_problem(n=120, d=5, k=3, seed=0)
    # A fixed seed: with another, the refit's start epochs can reach tol
    # themselves, and the Newton solver's finishing step is not needed at all.
    search = LinearMulticlassSVMCV(Cs=4, cv=3, solver="newton",
                                   random_state=0).fit(X, y)
    assert np.all(search.duality_gaps_ <= search.tol)
    assert len(calls) == 1
    assert search.duality_gap_ <= search.tol



def test_each_fold_validates_its_data_and_derives_from_them_once(monkeypatch):
    """A fold's fits share one objective: its data are validated, and the values
    that depend on them alone (feature statistics, row norms, the weighted mean
    row) computed, once per fold for all values of C, and once for the refit."""
    import sksvm._solvers.dual_cd as dual_cd_module
    from sksvm import _objective

    calls = {
        "validate": count_calls(monkeypatch, LinearMulticlassSVM, "_fit_objective"),
        "statistics": count_calls(monkeypatch, _objective, "feature_statistics"),
        "norms": count_calls(monkeypatch, dual_cd_module, "_row_sq_norms"),
        "center": count_calls(monkeypatch, dual_cd_module, "_weighted_center")}
    X, y = make_problem(n=90, d=5, k=3, seed=4)
    search = LinearMulticlassSVMCV(Cs=4, cv=3, solver="dual_cd", n_threads=1).fit(X, y)
    assert np.all(search.duality_gaps_ <= search.tol)
    assert {name: len(made) for name, made in calls.items()} == {
        "validate": 4, "statistics": 4, "norms": 4, "center": 4}


def test_objective_at_another_C_shares_what_the_data_give():
    """``with_C`` changes C only: the original keeps its own, and values derived
    from the data are computed once for both."""
    from sksvm._objective import MulticlassSVMObjective

    X, y = make_problem(n=30, d=4, k=3, seed=0)
    objective = MulticlassSVMObjective(X, y.astype(np.int64), np.ones(30), 3, C=1.0,
                                       loss="hinge", margin=1.0, fit_intercept=True,
                                       n_threads=1)
    computed = []
    other = objective.with_C(0.5)
    assert (objective.C, other.C) == (1.0, 0.5)
    assert other.derived("norms", lambda: computed.append(1) or 7) == 7
    assert objective.derived("norms", lambda: computed.append(1) or 8) == 7
    assert computed == [1]
    coef, intercept = np.ones((3, 4)), np.zeros(3)
    assert other.value(coef, intercept) == pytest.approx(
        numpy_objective(coef, intercept, X, y, 0.5)[0], rel=1e-12)


def _benchmark_module(name):
    """A script of ``benchmarks/`` imported as a module (its folder on the path)."""
    import importlib
    import sys

    folder = str(Path(__file__).resolve().parents[1] / "benchmarks")
    sys.path.insert(0, folder)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(folder)


def test_path_benchmarks_write_their_reports(tmp_path):
    """``benchmarks/cv_path.py`` (report and figure) and
    ``benchmarks/cv_path_floor.py`` (a row per value of C) run on the digits:
    they use the CV estimator's private hooks, which a refactoring could break."""
    pytest.importorskip("matplotlib")
    cv_path = _benchmark_module("cv_path")
    report = tmp_path / "path.md"
    cv_path.main(["--n-Cs", "3", "--folds", "2", "--fashion-rows", "0",
                  "--text-rows", "0", "--out", str(report)])
    lines = report.read_text().splitlines()
    digits_row = next(line for line in lines if line.startswith("| digits |"))
    assert digits_row.split("|")[9].strip() == "True"  # the same C
    assert "![Validation curves and times](path.png)" in lines
    assert (tmp_path / "path.png").stat().st_size > 0

    floor = _benchmark_module("cv_path_floor")
    report = tmp_path / "floor.md"
    floor.main(["--data", "digits", "--folds", "1", "--out", str(report)])
    text = report.read_text()
    rows = [line for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| C ")]
    assert len(rows) == 10  # cv_path.py's values of C
    assert "Sums: cold" in text and "from the optimum" in text
