"""
==================================================
Choosing C along a warm-started path
==================================================

:class:`~sksvm.LinearMulticlassSVMCV` chooses the regularization strength ``C`` by
cross-validation. Each fold fits a *path*: from the largest useful C, computed from
the data, down to smaller ones, each fit starting from the previous solution. A
:class:`~sklearn.model_selection.GridSearchCV` over the same values fits every
grid point from scratch.

Here both search the same grid with the same folds on the digits; the validation
curve is the cross-validated accuracy against C.
"""

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.preprocessing import StandardScaler

from sksvm import LinearMulticlassSVM, LinearMulticlassSVMCV

X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)
folds = StratifiedKFold(3, shuffle=True, random_state=0)
settings = dict(tol=1e-2, random_state=0)
LinearMulticlassSVM().fit(X[:50], y[:50])  # load the compiled kernels before timing

start = time.perf_counter()
path = LinearMulticlassSVMCV(Cs=8, C_ratio=1e-3, cv=folds, **settings).fit(X, y)
path_seconds = time.perf_counter() - start

start = time.perf_counter()
search = GridSearchCV(LinearMulticlassSVM(**settings), {"C": list(path.Cs_)},
                      cv=folds).fit(X, y)
grid_seconds = time.perf_counter() - start

print(f"largest useful C: {path.C_max_:.3g}")
print(f"path:        C_={path.C_:.3g} in {path_seconds:.1f} s")
print(f"grid search: C={search.best_params_['C']:.3g} in {grid_seconds:.1f} s")

# %%
# The top of the path, ``C_max_``, is where every dual variable reaches its upper
# bound :math:`s_i/S`: above it the weights are a fixed matrix divided by C, so
# larger values of C would only shrink the model without changing its
# predictions (exactly so without an intercept; see the user guide).
#
# The validation curve, with one standard deviation over the folds shaded, and
# the time of each search:
mean, std = path.scores_.mean(axis=0), path.scores_.std(axis=0)
fig, (curve, times) = plt.subplots(1, 2, figsize=(9, 4),
                                   gridspec_kw={"width_ratios": [3, 1]},
                                   layout="constrained")
curve.plot(path.Cs_, mean, marker="o", label="LinearMulticlassSVMCV")
curve.fill_between(path.Cs_, mean - std, mean + std, alpha=0.2)
curve.plot(path.Cs_, search.cv_results_["mean_test_score"], linestyle="--",
           marker="x", label="GridSearchCV")
curve.axvline(path.C_, color="gray", linestyle=":", label=f"C_ = {path.C_:.2g}")
curve.set_xscale("log")
curve.set_xlabel("C (regularization strength)")
curve.set_ylabel("cross-validated accuracy")
curve.legend()
times.bar(["path", "grid"], [path_seconds, grid_seconds],
          color=["tab:blue", "tab:orange"])
times.set_ylabel("seconds")
times.set_title("time to choose C")
plt.show()

# %%
# The fitted object predicts with the model refitted at ``C_`` on all the data;
# ``scores_``, ``n_iter_`` and ``duality_gaps_`` hold one row per fold and one
# column per value of ``Cs_``. Every point of the path is solved to the same
# certified tolerance as a cold fit:
print(f"largest duality gap on the path: {path.duality_gaps_.max():.1e} "
      f"(tol={settings['tol']})")
print(f"epochs or iterations per fold and C:\n{path.n_iter_}")
print(f"training accuracy of the refitted model: {path.score(X, y):.3f}")
