"""
=============================================
Comparison with LinearSVC: accuracy and speed
=============================================

:class:`~sksvm.LinearMulticlassSVM` fits one joint Weston-Watkins problem over all
classes. scikit-learn's :class:`~sklearn.svm.LinearSVC` (liblinear) fits one binary
SVM per class against the rest. Here both are fitted to the same standardized data
and compared by test accuracy and fit time over a range of ``C``, with each of the
two losses, and then by confusion matrix: first on scikit-learn's digits, then on
Fashion-MNIST when it is installed.

The comparisons are at **matched losses**: our hinge against
``LinearSVC(loss="hinge")``, and our ``loss="squared_hinge"`` against LinearSVC's
default, the squared hinge. (Comparing our default, the hinge, with LinearSVC's
default would compare two losses as well as two multiclass formulations.)

With the hinge both are solved by coordinate ascent on the dual problem:
liblinear's method, and our ``solver="dual_cd"``, which updates one sample's
:math:`k - 1` dual variables at a time and stops when the duality gap certifies the
objective to within ``tol`` (0.1% by default) of the optimum.

The two ``C`` parameters mean opposite things: ours multiplies the penalty
:math:`\\frac{C}{2}\\lVert W\\rVert^2` added to the *mean* loss, LinearSVC's multiplies
the *summed* loss. Dividing LinearSVC's objective by ``n * C_svc`` shows that
``C_svc = 1 / (n * C)`` weighs the penalty against the loss the same way, and every
LinearSVC below uses that conversion (for binary problems the exact conversion is
``2 / (n * C)``, see :doc:`/migration`). LinearSVC also penalizes its intercept and
we do not; on standardized features that makes little difference. The timings are
of ``fit`` alone: the features are standardized once, beforehand.
"""

# %%
# Digits
# ------
# 1797 8x8 images of handwritten digits, 64 features, 10 classes.
import gzip
import os
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from sksvm import LinearMulticlassSVM

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0)
# Standardize once, outside the timings.
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

# The first fit in a process compiles the numba kernels (or loads them from the
# cache); do it once up front so that the timings below measure fitting only.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # one iteration does not converge
    for loss in ("hinge", "squared_hinge"):
        LinearMulticlassSVM(loss=loss, max_iter=1).fit(X_train[:20], y_train[:20])


def make_models(C, n, loss):
    """Ours and LinearSVC with the same loss, LinearSVC's C converted from ours.
    liblinear runs on one thread, and so does ours here (on problems this small
    one thread is also the fastest)."""
    return {"LinearMulticlassSVM": LinearMulticlassSVM(C=C, loss=loss, n_threads=1,
                                                       random_state=0),
            "LinearSVC": LinearSVC(C=1 / (n * C), loss=loss, random_state=0)}


def fit_and_score(model, X_train, X_test, y_train, y_test, repeats=1):
    """Test accuracy, the best fit time of ``repeats`` fits, and the predictions."""
    fit_time = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(X_train, y_train)
        fit_time = min(fit_time, time.perf_counter() - start)
    predictions = model.predict(X_test)
    return np.mean(predictions == y_test), fit_time, predictions


# %%
# Accuracy and fit time against C
# ...............................
# Our ``C`` on the x axis; each LinearSVC is fitted with ``C = 1 / (n * C)``, so
# the left of the plots is weak regularization for both. Where LinearSVC stops at
# its ``max_iter`` (1000 passes) before converging, its fit is slow *and*
# unfinished; the warnings are silenced here.
C_GRID = np.logspace(-4, 0, 9)
LOSSES = ("hinge", "squared_hinge")
n = X_train.shape[0]
sweep = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for loss in LOSSES:
        for C in C_GRID:
            for name, model in make_models(C, n, loss).items():
                accuracy, fit_time, _ = fit_and_score(
                    model, X_train, X_test, y_train, y_test, repeats=2)
                sweep[name, loss, C] = accuracy, fit_time

print(f"{'C':>8} {'loss':<14} {'ours: acc.':>10} {'time (s)':>9} "
      f"{'LinearSVC: acc.':>16} {'time (s)':>9}")
for loss in LOSSES:
    for C in C_GRID:
        ours, theirs = sweep["LinearMulticlassSVM", loss, C], sweep["LinearSVC", loss, C]
        print(f"{C:8.0e} {loss:<14} {ours[0]:10.4f} {ours[1]:9.3f} "
              f"{theirs[0]:16.4f} {theirs[1]:9.3f}")

fig, (ax_accuracy, ax_time) = plt.subplots(1, 2, figsize=(11, 4.5),
                                           layout="constrained")
styles = {"LinearMulticlassSVM": dict(color="tab:blue", marker="o"),
          "LinearSVC": dict(color="tab:red", marker="s")}
for name, style in styles.items():
    for loss, linestyle in zip(LOSSES, ("-", "--")):
        label = (f"{name}(loss={loss!r})" if name == "LinearMulticlassSVM"
                 else f"LinearSVC(loss={loss!r}, C=1/(nC))")
        accuracies = [sweep[name, loss, C][0] for C in C_GRID]
        times = [sweep[name, loss, C][1] for C in C_GRID]
        ax_accuracy.semilogx(C_GRID, accuracies, linestyle=linestyle, label=label,
                             **style)
        ax_time.loglog(C_GRID, times, linestyle=linestyle, label=label, **style)
for ax in (ax_accuracy, ax_time):
    ax.set_xlabel("our C (LinearSVC: 1 / (n C)); larger C, simpler model")
ax_accuracy.set_ylabel("test accuracy")
ax_accuracy.set_title("Digits: test accuracy")
ax_time.set_ylabel("fit time (s), best of 2")
ax_time.set_title("Digits: fit time (fit alone, standardized data)")
ax_time.legend(fontsize=8)

# %%
# The table above gives this run's numbers. With the same loss and the converted
# C, the two reach about the same best accuracy (on 450 test images one image is
# 0.2%). Towards strong regularization, on the right, LinearSVC's accuracy falls
# off sooner: its intercepts are penalized too, and each of its one-vs-rest
# problems is regularized on its own. On a data set this small both fit in well
# under a second, and the times depend on the machine's load more than on the
# method; liblinear's one-vs-rest problems are cheap here. The benchmarks
# (:doc:`/benchmarks`) compare the fit times on data sets of 50000 to 1000000
# samples.
#
# Confusion matrices
# ..................
# At one C (ours 1e-2) and with the hinge for both.


def compare(X_train, X_test, y_train, y_test, C, loss="hinge"):
    """Fit both models (same loss, converted C); return accuracy, time, predictions."""
    results = {}
    for name, model in make_models(C, X_train.shape[0], loss).items():
        label = (f"LinearMulticlassSVM(C={C:g})" if name == "LinearMulticlassSVM"
                 else f"LinearSVC(C={model.C:.3g}, loss={loss!r})")
        accuracy, fit_time, predictions = fit_and_score(model, X_train, X_test,
                                                        y_train, y_test)
        results[label] = dict(accuracy=accuracy, fit_time=fit_time,
                              predictions=predictions)
        print(f"{label:<40} accuracy {accuracy:.4f}   fit time {fit_time:6.2f} s")
    return results


def plot_results(results, y_test, title, labels=None):
    """Confusion matrices of both models next to each other."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 5), layout="constrained")
    for ax, (name, result) in zip(axes, results.items()):
        ConfusionMatrixDisplay.from_predictions(
            y_test, result["predictions"], ax=ax, colorbar=False,
            display_labels=labels, xticks_rotation="vertical" if labels else "horizontal")
        ax.set_title(f"{name}\naccuracy {result['accuracy']:.3f}, "
                     f"fit {result['fit_time']:.2f} s", fontsize=10)
    fig.suptitle(title)
    return fig


with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    digits_results = compare(X_train, X_test, y_train, y_test, C=1e-2)
plot_results(digits_results, y_test, "Digits: test-set confusion matrices (hinge)")

# %%
# Both models make a handful of errors out of 450, the most of them on 8s. The joint
# multiclass problem is not more accurate per se here; what it offers is one
# objective whose optimum is certified (see
# :ref:`sphx_glr_auto_examples_plot_solver_convergence.py`).
#
# Fashion-MNIST
# -------------
# Zalando's 28x28 clothing images: 784 features, 10 classes, 60000 training and
# 10000 test images, read from the idx files of Debian's ``dataset-fashion-mnist``
# package (``apt-get install dataset-fashion-mnist``). To keep this example under a
# minute we train on the first 2000 images and test on all 10000. The dataset's
# paper reports 0.836 test accuracy for LinearSVC trained on all 60000.

FASHION_DIR = Path(os.environ.get("FASHION_MNIST_DIR",
                                  "/usr/share/datasets/fashion-mnist"))
FASHION_LABELS = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                  "Shirt", "Sneaker", "Bag", "Boot"]


def read_idx(path):
    """An idx file (the MNIST format): big-endian dimensions, then uint8 data."""
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_fashion_mnist(folder):
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    if not all((folder / name).is_file() for name in names):
        return None
    images_train, labels_train, images_test, labels_test = (
        read_idx(folder / name) for name in names)
    return (images_train.reshape(len(images_train), -1).astype(np.float64),
            images_test.reshape(len(images_test), -1).astype(np.float64),
            labels_train, labels_test)


fashion = load_fashion_mnist(FASHION_DIR)
if fashion is None:
    print(f"Note: Fashion-MNIST was not found in {FASHION_DIR}, so this part is "
          "skipped. Install Debian's dataset-fashion-mnist package, or set "
          "FASHION_MNIST_DIR to a folder with its four idx .gz files.")
else:
    F_train, F_test, f_train, f_test = fashion
    n_train = 2000
    fashion_scaler = StandardScaler().fit(F_train[:n_train])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fashion_results = compare(fashion_scaler.transform(F_train[:n_train]),
                                  fashion_scaler.transform(F_test),
                                  f_train[:n_train], f_test, C=1e-1)
    plot_results(fashion_results, f_test,
                 f"Fashion-MNIST ({n_train} training images): test-set confusion "
                 "matrices (hinge)", labels=FASHION_LABELS)

# %%
# On Fashion-MNIST the confusions are between similar garments (shirt, T-shirt,
# pullover and coat), for both models alike.
plt.show()
