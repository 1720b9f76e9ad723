"""One adapter per benchmarked library, and the registry the worker uses.

An adapter fits a model described by a ``config.ModelSpec`` on a data set's arrays
and measures it on the test set. Objectives are evaluated with the public
``sksvm.loss_gradient``, so that every Weston-Watkins solver is judged alike.
"""

import importlib.util
import warnings

import numpy as np

from config import MARGIN
from memory import measure_call


def objective_values(arrays, C, coef, intercept=None, loss="hinge"):
    """Our hinge objective J, and the objective of ``loss``, at a solution.

    Parameters
    ----------
    arrays : dict
        The data set (``X``, ``y``).
    C : float
    coef : ndarray of shape (n_classes, n_features)
    intercept : ndarray of shape (n_classes,) or None
        None or all zeros: no intercept.
    loss : {"hinge", "squared_hinge"}
        The loss the model minimized.

    Returns
    -------
    dict
        ``J`` (hinge) and ``J_own`` (the objective of ``loss``).
    """
    from sksvm import loss_gradient

    if intercept is not None and not np.any(intercept):
        intercept = None

    def value(of_loss):
        return float(loss_gradient(coef, intercept, arrays["X"], arrays["y"], C=C,
                                   loss=of_loss, margin=MARGIN)[0])

    J = value("hinge")
    return dict(J=J, J_own=J if loss == "hinge" else value(loss))


class Adapter:
    """Interface of a library adapter.

    Subclasses implement :meth:`fit` and :meth:`evaluate`; the others have
    defaults.
    """

    #: Python module the library needs (its availability decides whether to run).
    module = None

    def available(self):
        """Whether the library is installed."""
        return self.module is None or importlib.util.find_spec(self.module) is not None

    def unsupported(self, meta):
        """Why the library cannot fit this data set, or None."""
        return None

    def warm_up(self, arrays, meta, specs):
        """Compile or load whatever the fits need, outside the timings."""

    def fit(self, arrays, meta, params):
        """Fit on the training set; returns what :meth:`evaluate` needs."""
        raise NotImplementedError

    def evaluate(self, fitted, arrays, meta, params):
        """Measurements of a fitted model (a dict: accuracy, J, ...)."""
        raise NotImplementedError


class SksvmAdapter(Adapter):
    """``LinearMulticlassSVM``; records its history, gap and objectives."""

    @staticmethod
    def estimator(C, params):
        """A ``LinearMulticlassSVM(C=C, **params)``."""
        from sksvm import LinearMulticlassSVM

        return LinearMulticlassSVM(C=C, **params)

    def warm_up(self, arrays, meta, specs):
        from sksvm import loss_gradient

        X, y = arrays["X"][:400], arrays["y"][:400]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for spec in specs:
                model = self.estimator(meta["C"], dict(spec.params, max_iter=2))
                model.fit(X, y).score(X, y)
        loss_gradient(np.zeros((meta["n_classes"], X.shape[1])), None, X, y, C=1.0)

    def fit(self, arrays, meta, params):
        return self.estimator(meta["C"], params).fit(arrays["X"], arrays["y"])

    def evaluate(self, model, arrays, meta, params):
        loss = params.get("loss", "hinge")
        history = [{k: (float(v) if isinstance(v, (float, np.floating)) else v)
                    for k, v in entry.items()} for entry in model.history_]
        out = dict(accuracy=float(model.score(arrays["X_test"], arrays["y_test"])),
                   n_iter=int(model.n_iter_), duality_gap=float(model.duality_gap_),
                   history=history)
        if history:
            out["n_evaluations"] = int(history[-1]["n_evaluations"])
        intercept = model.intercept_ if model.fit_intercept else None
        out.update(objective_values(arrays, meta["C"], model.coef_, intercept, loss))
        if params.get("solver") == "subgradient":
            out.update(self._early_epochs(arrays, meta, params, loss))
        return out

    def _early_epochs(self, arrays, meta, params, loss):
        """Accuracy (and hinge J) after 1 and 2 epochs: the same seed gives the
        same first epochs as the full run."""
        out = {}
        for epochs in (1, 2):
            model, seconds, _ = measure_call(
                lambda: self.fit(arrays, meta, dict(params, max_iter=epochs)))
            out[f"accuracy_epoch{epochs}"] = float(model.score(arrays["X_test"],
                                                               arrays["y_test"]))
            out[f"time_epoch{epochs}"] = seconds
            if loss == "hinge":
                out[f"J_epoch{epochs}"] = objective_values(arrays, meta["C"],
                                                           model.coef_)["J"]
        return out


class MlpackAdapter(Adapter):
    """mlpack's ``linear_svm`` (``lambda_=C``, ``delta=margin``, no intercept)."""

    module = "mlpack"

    def unsupported(self, meta):
        if meta["sparse"]:
            return "mlpack's Python binding takes dense matrices only"
        return None

    def fit(self, arrays, meta, params):
        import mlpack

        return mlpack.linear_svm(training=arrays["X"], labels=arrays["y"],
                                 lambda_=meta["C"], delta=MARGIN, no_intercept=True,
                                 seed=1, **params)

    def evaluate(self, output, arrays, meta, params):
        model = output["output_model"].get_cpp_params()["LinearSVMModel"]
        theta = np.asarray(model["svm"]["parameters"], dtype=np.float64)
        labels = np.asarray(model["mappings"]).ravel()
        d = arrays["X"].shape[1]
        # Rows of theta are mlpack's internal classes; mappings[i] is the label.
        coef = np.zeros((meta["n_classes"], d))
        coef[labels] = theta[:, :d]
        predicted = np.argmax(arrays["X_test"] @ coef.T, axis=1)
        out = dict(accuracy=float(np.mean(predicted == arrays["y_test"])))
        out.update(objective_values(arrays, meta["C"], coef))
        return out


class SklearnAdapter(Adapter):
    """Base of the scikit-learn peers: fit, test accuracy, iterations."""

    def inputs(self, arrays, meta):
        """(X_train, X_test) the estimator sees."""
        return arrays["X"], arrays["X_test"]

    def estimator(self, arrays, meta, params):
        raise NotImplementedError

    def fit(self, arrays, meta, params):
        X, _ = self.inputs(arrays, meta)
        return self.estimator(arrays, meta, params).fit(X, arrays["y"])

    def evaluate(self, model, arrays, meta, params):
        _, X_test = self.inputs(arrays, meta)
        return dict(accuracy=float(model.score(X_test, arrays["y_test"])),
                    n_iter=int(np.max(model.n_iter_)))


class SGDAdapter(SklearnAdapter):
    """``SGDClassifier(loss="hinge", alpha=C)`` (one-vs-rest)."""

    def estimator(self, arrays, meta, params):
        from sklearn.linear_model import SGDClassifier

        return SGDClassifier(loss="hinge", alpha=meta["C"], random_state=0, **params)


class LinearSVCAdapter(SklearnAdapter):
    """``LinearSVC``: on Fashion-MNIST its fast setting (pixels / 255, C = 1),
    elsewhere our regularization scale, ``C_svc = 1 / (n C)``."""

    def inputs(self, arrays, meta):
        if meta["name"] == "fashion":
            return arrays["X_raw"], arrays["X_raw_test"]
        return arrays["X"], arrays["X_test"]

    def estimator(self, arrays, meta, params):
        from sklearn.svm import LinearSVC

        if meta["name"] == "fashion":
            return LinearSVC(random_state=0, **params)
        return LinearSVC(C=1.0 / (meta["n_train"] * meta["C"]), random_state=0,
                         **params)

    def evaluate(self, model, arrays, meta, params):
        return dict(super().evaluate(model, arrays, meta, params), C_svc=float(model.C))


#: Library name (``ModelSpec.library``) -> adapter.
ADAPTERS = {
    "sksvm": SksvmAdapter(),
    "mlpack": MlpackAdapter(),
    "sgd": SGDAdapter(),
    "linearsvc": LinearSVCAdapter(),
}


def run_model(arrays, meta, spec, evaluate):
    """Fit one model once, timing the fit and its peak memory.

    Parameters
    ----------
    arrays, meta
        The data set (see ``benchmark_data.make_dataset``).
    spec : config.ModelSpec
    evaluate : bool
        Also measure accuracy, objective, history (the first of repeated fits).

    Returns
    -------
    dict
        ``time``, the adapter's measurements and ``rss_before`` / ``rss_peak``.
    """
    adapter = ADAPTERS[spec.library]
    fitted, seconds, memory = measure_call(
        lambda: adapter.fit(arrays, meta, spec.params))
    record = dict(key=spec.key, time=seconds)
    if evaluate:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            record.update(adapter.evaluate(fitted, arrays, meta, spec.params))
    if memory.peak is not None:
        record.update(rss_before=memory.before, rss_peak=memory.peak)
    return record
