"""LinearMulticlassSVMCV: the warm-started regularization path and its C_max."""

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, GroupKFold, StratifiedKFold
from sklearn.utils.estimator_checks import (
    check_sample_weight_equivalence_on_dense_data,
    check_sample_weight_equivalence_on_sparse_data, parametrize_with_checks)

from sksvm import LinearMulticlassSVM, LinearMulticlassSVMCV
from sksvm._cv import largest_useful_C

from _reference import numpy_objective
from conftest import make_problem, random_weights


def _expected_failed_checks(estimator):
    # Measured: the check's refitted models differ by dual_cd's tolerance. On
    # sparse input the path runs "dual_cd", whose warm-started fits stop at the
    # certified tol = 1e-3 without reaching the exact optimum, so the weighted and
    # the repeated fits' decision functions differ (42 of 45 values beyond
    # rtol = 1e-7). The same check passes with tol=1e-10 or solver="newton", and
    # on dense input, where "auto" runs "newton" and ends at the exact optimum.
    reason = ("dual_cd's warm-started path fits stop at tol=1e-3, short of the "
              "exact optimum the check compares (passes with tol=1e-10)")
    return {"check_sample_weight_equivalence_on_sparse_data": reason}


@parametrize_with_checks(
    [LinearMulticlassSVMCV(Cs=3, C_ratio=1e-2, cv=3, n_threads=1)],
    expected_failed_checks=_expected_failed_checks)
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
