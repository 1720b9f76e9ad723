"""
=============================================
Choosing C and the loss with cross-validation
=============================================

:class:`~sksvm.LinearMulticlassSVM` is a regular scikit-learn estimator, so it fits
in a :class:`~sklearn.pipeline.Pipeline` and :class:`~sklearn.model_selection.GridSearchCV`
searches over its parameters like any other. Here a grid over the regularization
strength ``C`` and the ``loss`` is cross-validated on the digits.

Remember that ``C`` is a regularization *strength*: the score falls off to the right
(too simple a model) and, more gently, to the left (overfitting).
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sksvm import LinearMulticlassSVM

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0)

pipeline = Pipeline([("scale", StandardScaler()),
                     ("svm", LinearMulticlassSVM(tol=1e-2))])
param_grid = {"svm__C": np.logspace(-2.5, 0.5, 7),
              "svm__loss": ["hinge", "squared_hinge"]}
search = GridSearchCV(pipeline, param_grid,
                      cv=StratifiedKFold(3, shuffle=True, random_state=0))
search.fit(X_train, y_train)
best = search.best_params_
print(f"best parameters: C={best['svm__C']:.3g}, loss={best['svm__loss']}")
print(f"cross-validated accuracy {search.best_score_:.4f}, "
      f"test accuracy {search.score(X_test, y_test):.4f}")

# %%
# A stopping tolerance of ``tol=1e-2`` (a relative duality gap of 1%) is plenty for
# model selection: the accuracy of a model changes far less than its objective
# near the optimum. Refit the chosen model with the default ``tol`` if you need
# the objective itself.
#
# The cross-validated score against C, one curve per loss, with one standard
# deviation over the folds shaded:
results = search.cv_results_
fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
for loss in param_grid["svm__loss"]:
    rows = np.flatnonzero(results["param_svm__loss"] == loss)
    rows = rows[np.argsort(results["param_svm__C"][rows].astype(float))]
    C = results["param_svm__C"][rows].astype(float)
    mean = results["mean_test_score"][rows]
    std = results["std_test_score"][rows]
    ax.plot(C, mean, marker="o", label=loss)
    ax.fill_between(C, mean - std, mean + std, alpha=0.2)
ax.axvline(best["svm__C"], color="gray", linestyle=":",
           label=f"best: C={best['svm__C']:.0e}, {best['svm__loss']}")
ax.set_xscale("log")
ax.set_xlabel("C (regularization strength)")
ax.set_ylabel("cross-validated accuracy")
ax.set_title("Digits: 3-fold cross-validation")
ax.legend()
plt.show()
