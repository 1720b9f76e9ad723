"""The Weston-Watkins objective: normalization, penalty, packing and duality gap.

``MulticlassSVMObjective`` owns one validated data set and evaluates

    J(W, b) = (1/S) Σ_i s_i Σ_{j≠y_i} ℓ(δ + (w_j − w_{y_i})·x_i + b_j − b_{y_i})
              + (C/2) ‖W‖_F²

with the intercept b unpenalized (see MATH.md). Parameters are packed for the
solvers as one flat vector: ``coef.ravel()`` (k·d entries, class-major) followed by
the k intercepts when ``fit_intercept`` is True.
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from . import _kernels

LOSS_CODES = {"hinge": _kernels.HINGE, "squared_hinge": _kernels.SQUARED_HINGE}


@dataclass
class Evaluation:
    """One evaluation of the objective at ``(coef, intercept)``.

    ``value`` is the objective being minimized (smoothed when ``mu > 0``);
    ``true_value`` is always the unsmoothed objective; ``dual_value`` is the dual
    objective at the dual point induced by the loss derivatives, so that
    ``true_value - dual_value`` bounds the suboptimality (exactly so when there is no
    intercept; with an intercept it is the bound for the current ``b``).
    """

    value: float
    grad_coef: np.ndarray
    grad_intercept: np.ndarray
    true_value: float
    dual_value: float
    smoothed_dual_value: float
    dual_coef: np.ndarray = None
    dual_margin_term: float = 0.0
    dual_conjugate: float = 0.0
    smoothing_conjugate: float = 0.0

    @property
    def gap(self):
        return self.true_value - self.dual_value

    @property
    def relative_gap(self):
        return self.gap / max(abs(self.true_value), np.finfo(float).tiny)

    @property
    def smoothed_gap(self):
        """Duality gap of the (smoothed) problem actually being minimized."""
        return self.value - self.smoothed_dual_value


def block_loss_grad(X, y, sample_weight, coef, intercept, loss_code, margin, mu,
                    n_chunks):
    """Unnormalized sums over the rows of X, dense or CSR, in the (k, d) layout.

    Returns ``(stats, grad_coef, grad_intercept)`` with ``stats`` the four sums
    documented in :mod:`sksvm._kernels`.
    """
    if sp.issparse(X):
        stats, grad_t, grad_intercept = _kernels.csr_loss_grad(
            X.data, X.indices, X.indptr, y, sample_weight,
            np.ascontiguousarray(coef.T), intercept, loss_code, margin, mu, n_chunks,
            _kernels.csr_block_rows(X.data, X.indices, coef.shape[0], n_chunks))
        return stats, np.ascontiguousarray(grad_t.T), grad_intercept
    return _kernels.dense_loss_grad(X, y, sample_weight, coef, intercept, loss_code,
                                    margin, mu, n_chunks)


class MulticlassSVMObjective:
    """Objective over one data set, for the solvers.

    Parameters
    ----------
    X : ndarray of shape (n, d), C-contiguous float32/float64, or CSR matrix
    y : ndarray of shape (n,), int64 class indices in ``0..n_classes-1``
    sample_weight : ndarray of shape (n,), float64, non-negative, positive sum
    n_classes : int
    C : float
        Regularization strength of the (C/2)‖W‖² penalty.
    loss : {"hinge", "squared_hinge"}
    margin : float
    fit_intercept : bool
    n_threads : int
        Number of row chunks evaluated in parallel (and the numba thread count).
    """

    def __init__(self, X, y, sample_weight, n_classes, *, C, loss, margin,
                 fit_intercept, n_threads):
        self.X = X
        self.y = y
        self.sample_weight = sample_weight
        self.n_classes = n_classes
        self.n_features = X.shape[1]
        self.C = float(C)
        self.loss = loss
        self.margin = float(margin)
        self.fit_intercept = fit_intercept
        self.n_threads = int(n_threads)
        self.weight_sum = float(sample_weight.sum())
        self.rows = np.arange(X.shape[0], dtype=np.int64)
        self.n_evaluations = 0
        # The packed vector holds b / intercept_scale (see pack).
        self.intercept_scale = 1.0

    # -- packing ---------------------------------------------------------------
    @property
    def n_params(self):
        k, d = self.n_classes, self.n_features
        return k * d + (k if self.fit_intercept else 0)

    def pack(self, coef, intercept):
        """One vector of the parameters, the intercept divided by ``intercept_scale``.

        Optimizers that are not invariant to a rescaling of single variables
        (L-BFGS) see the intercept as the weight of a constant feature of that
        magnitude.
        """
        if self.fit_intercept:
            return np.concatenate([coef.ravel(), intercept / self.intercept_scale])
        return coef.ravel().copy()

    def unpack(self, params):
        k, d = self.n_classes, self.n_features
        coef = params[: k * d].reshape(k, d)
        if self.fit_intercept:
            intercept = params[k * d:] * self.intercept_scale
        else:
            intercept = np.zeros(k)
        return coef, intercept

    # -- evaluation ------------------------------------------------------------
    def _loss_code(self, mu):
        if mu > 0:
            if self.loss != "hinge":
                raise ValueError("smoothing applies to loss='hinge' only.")
            return _kernels.SMOOTHED_HINGE
        return LOSS_CODES[self.loss]

    def evaluate(self, coef, intercept, mu=0.0):
        """Objective, gradient and dual values at ``(coef, intercept)``.

        ``mu > 0`` selects the hinge smoothed with width ``mu``.
        """
        coef = np.ascontiguousarray(coef, dtype=np.float64)
        intercept = np.ascontiguousarray(intercept, dtype=np.float64)
        self.n_evaluations += 1
        stats, grad_sum, grad_intercept_sum = block_loss_grad(
            self.X, self.y, self.sample_weight, coef, intercept,
            self._loss_code(mu), self.margin, mu, self.n_threads)
        return self.finalize(coef, intercept, stats, grad_sum, grad_intercept_sum, mu)

    def finalize(self, coef, intercept, stats, grad_sum, grad_intercept_sum, mu):
        """Turn the unnormalized block sums into an :class:`Evaluation`."""
        S, C = self.weight_sum, self.C
        loss_sum, hinge_sum, deriv_sum, deriv_sq_sum = stats
        penalty = 0.5 * C * float(np.vdot(coef, coef))
        grad_coef = grad_sum / S
        grad_intercept = (grad_intercept_sum / S if self.fit_intercept
                          else np.zeros_like(grad_intercept_sum))
        # Dual point α_ij = (s_i/S) ℓ'(m_ij); its primal image is
        # W(α) = −Aᵀ X / C = coef − (∇_W J − C·coef)/C = −grad_coef / C.
        dual_coef = grad_coef / (-C)
        margin_term = self.margin * deriv_sum / S
        # Conjugate terms: ℓ*(a) = a²/4 for the squared hinge (part of the true
        # dual), μa²/2 for the smoothed hinge (part of the smoothed dual only), 0 on
        # [0, 1] for the hinge.
        conjugate = 0.25 * deriv_sq_sum / S if self.loss == "squared_hinge" else 0.0
        dual = self.dual_value(margin_term, grad_intercept, dual_coef, conjugate,
                               intercept)
        smoothing_conjugate = 0.5 * mu * deriv_sq_sum / S
        smoothed_dual = dual - smoothing_conjugate
        grad_coef = grad_coef + C * coef
        return Evaluation(
            value=loss_sum / S + penalty,
            grad_coef=grad_coef,
            grad_intercept=grad_intercept,
            true_value=hinge_sum / S + penalty,
            dual_value=dual,
            smoothed_dual_value=smoothed_dual,
            dual_coef=dual_coef,
            dual_margin_term=margin_term,
            dual_conjugate=conjugate,
            smoothing_conjugate=smoothing_conjugate,
        )

    def dual_value(self, margin_term, intercept_residual, dual_coef, conjugate,
                   intercept):
        """D_b(α) = Σ α_ij (δ + b_j − b_{y_i}) − (C/2)‖W(α)‖² − Σ (s_i/S) ℓ*(a_ij).

        ``margin_term`` is δ Σ α_ij, ``intercept_residual`` is Aᵀ1 (so that
        Σ α_ij (b_j − b_{y_i}) = b·Aᵀ1), ``dual_coef`` is W(α) = −AᵀX/C. Without an
        intercept this is the dual objective, a lower bound on min J; with one, it
        bounds min_W J(W, b) at the given b.
        """
        return (margin_term + float(np.dot(intercept, intercept_residual))
                - 0.5 * self.C * float(np.vdot(dual_coef, dual_coef)) - conjugate)

    def value(self, coef, intercept):
        """The true (unsmoothed) objective J(coef, intercept)."""
        return self.evaluate(coef, intercept).true_value

    def flat_loss_gradient(self, params, mu=0.0):
        """``(value, gradient)`` on the packed vector, for scipy.optimize."""
        coef, intercept = self.unpack(params)
        ev = self.evaluate(coef, intercept, mu)
        grad = (np.concatenate([ev.grad_coef.ravel(),
                                ev.grad_intercept * self.intercept_scale])
                if self.fit_intercept else ev.grad_coef.ravel())
        return ev, grad


def intercept_scale(square_sum, size):
    """Power of two nearest the root mean square entry of X (given the sum of its
    ``size`` squared entries), or 1.

    L-BFGS then moves the intercept as the weight of a constant feature of the
    features' typical magnitude, and its path does not depend on the scale of X.
    """
    mean_square = square_sum / max(size, 1)
    if not 0.0 < mean_square < np.inf:
        return 1.0
    return float(np.ldexp(1.0, int(np.round(0.5 * np.log2(mean_square)))))


def sum_of_squares(X):
    """Sum of the squared entries of X (dense or CSR), in float64, without a copy."""
    values = X.data if sp.issparse(X) else X.reshape(-1)
    return float(np.einsum("i,i->", values, values, dtype=np.float64))
