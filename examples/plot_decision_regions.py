"""
======================================================
Decision regions and margins of three multiclass SVMs
======================================================

Three linear multiclass SVMs on the same 3-class problem in two dimensions:

- :class:`~sksvm.LinearMulticlassSVM`: Weston-Watkins, one hinge per *wrong* class,
  :math:`\\sum_{j \\ne y} \\max(0, 1 + s_j - s_y)`;
- :class:`~sklearn.svm.LinearSVC` with ``multi_class="ovr"``: one binary SVM per class
  against the rest, fitted separately;
- :class:`~sklearn.svm.LinearSVC` with ``multi_class="crammer_singer"``: one hinge per
  sample on the *largest* violation, :math:`\\max(0, \\max_{j \\ne y} 1 + s_j - s_y)`.

Solid lines are the decision boundaries. For the two joint formulations the dashed
lines are their margins: where the winning score exceeds the runner-up by exactly 1.
Inside the dashed band a point still pays a loss, so the circled points (the
support vectors) are the ones on, inside or beyond their margin. For one-vs-rest the
dashed lines are each binary classifier's own margins, :math:`s_j = \\pm 1`.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from sklearn.datasets import make_blobs
from sklearn.svm import LinearSVC

from sksvm import LinearMulticlassSVM

X, y = make_blobs(n_samples=120, centers=[[-2, -1], [2, -1.5], [0, 2]],
                  cluster_std=1.2, random_state=3)
n = len(y)
C = 0.05
models = {
    "Weston-Watkins\n(LinearMulticlassSVM)": LinearMulticlassSVM(C=C),
    "one-vs-rest\n(LinearSVC)": LinearSVC(C=1 / (n * C)),
    "Crammer-Singer\n(LinearSVC)": LinearSVC(C=1 / (n * C),
                                            multi_class="crammer_singer"),
}
# The same penalty weight for all: our objective is (C/2)||W||^2 + mean loss,
# LinearSVC's is (1/2)||W||^2 + C_svc * summed loss, so C_svc = 1 / (n * C).

colors = ["tab:blue", "tab:orange", "tab:green"]
xx, yy = np.meshgrid(np.linspace(-6, 6, 400), np.linspace(-5.5, 6, 400))
grid = np.c_[xx.ravel(), yy.ravel()]

fig, axes = plt.subplots(1, 3, figsize=(14, 5), layout="constrained", sharey=True)
for ax, (name, model) in zip(axes, models.items()):
    model.fit(X, y)
    scores = model.decision_function(grid)
    ordered = np.sort(scores, axis=1)
    winner = scores.argmax(axis=1).reshape(xx.shape)
    ax.contourf(xx, yy, winner, levels=[-0.5, 0.5, 1.5, 2.5], alpha=0.2,
                cmap=ListedColormap(colors))
    ax.contour(xx, yy, winner, levels=[0.5, 1.5], colors="black", linewidths=1.5)
    sample_scores = model.decision_function(X)
    true_score = sample_scores[np.arange(n), y]
    if "rest" in name:
        for j, color in enumerate(colors):
            ax.contour(xx, yy, scores[:, j].reshape(xx.shape), levels=[-1, 1],
                       colors=color, linestyles="--", linewidths=1)
        # A binary margin is violated when y_j * s_j < 1 for some class j.
        signs = np.where(np.arange(3) == y[:, None], 1.0, -1.0)
        support = np.any(signs * sample_scores < 1, axis=1)
    else:
        gap = (ordered[:, -1] - ordered[:, -2]).reshape(xx.shape)
        ax.contour(xx, yy, gap, levels=[1], colors="black", linestyles="--",
                   linewidths=1)
        others = np.where(np.arange(3) == y[:, None], -np.inf, sample_scores)
        support = np.any(1 + others - true_score[:, None] > 0, axis=1)
    ax.scatter(X[:, 0], X[:, 1], c=np.array(colors)[y], edgecolor="k", s=25)
    ax.scatter(X[support, 0], X[support, 1], s=90, facecolors="none",
               edgecolors="k", linewidths=0.8)
    accuracy = np.mean(model.predict(X) == y)
    ax.set_title(f"{name}\ntraining accuracy {accuracy:.2f}, "
                 f"{support.sum()} support vectors", fontsize=10)
    ax.set_xlim(xx.min(), xx.max())
    ax.set_ylim(yy.min(), yy.max())
plt.show()

# %%
# The Weston-Watkins and Crammer-Singer models differ only in how they add up the
# margin violations of a sample, and their boundaries are close. One-vs-rest
# fits each class against the rest on its own, so its three binary margins do not
# line up with the multiclass boundaries, and near the centre the winning score is
# decided by classifiers that were never trained to compare with each other.
