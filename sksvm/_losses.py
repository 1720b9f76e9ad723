"""The margin losses: one home for each loss's value, derivative, conjugate, prox and
dual bounds.

The objective (MATH.md) is a sum of ℓ(m_ij) over the margins m_ij of the pairs
(i, j ≠ y_i). Everything that depends on which ℓ is used lives here; the numba
kernels receive one integer code, defined here and nowhere else:

- ``HINGE``: ℓ(m) = max(0, m), ℓ'(m) = 1[m > 0];
- ``SQUARED_HINGE``: ℓ(m) = max(0, m)², ℓ'(m) = 2 max(0, m);
- ``SMOOTHED_HINGE``: the hinge's Moreau envelope of width μ > 0 (within μ/2 of
  it), ℓ'(m) = clip(m/μ, 0, 1); used by the L-BFGS continuation.

Dual side (MATH.md "Dual and duality gap"): with α_ij = c_i a_ij, c_i = s_i/S, the
dual variables of the hinge live in the box [0, c_i] and have no conjugate term; the
squared hinge's live in [0, ∞) with the conjugate term Σ α²/(4 c_i).
"""

from dataclasses import dataclass

import numpy as np

HINGE = 0
SQUARED_HINGE = 1
SMOOTHED_HINGE = 2


@dataclass(frozen=True)
class Loss:
    """One margin loss ℓ and the pieces of it that the solvers use.

    Attributes
    ----------
    name : str
        The estimator's ``loss`` value.
    code : int
        The integer the numba kernels take for it.
    bounded : bool
        Whether the dual variables have the upper bound c_i (the hinge), or none
        (the squared hinge).
    differentiable : bool
        Whether ℓ is C¹ (the squared hinge); the hinge is smoothed by L-BFGS.
    """

    name: str
    code: int
    bounded: bool
    differentiable: bool

    def kernel_code(self, smoothing=0.0):
        """The kernels' loss code, ``SMOOTHED_HINGE`` for the hinge at width > 0."""
        if smoothing > 0:
            if self.code != HINGE:
                raise ValueError("smoothing applies to loss='hinge' only.")
            return SMOOTHED_HINGE
        return self.code

    def value(self, margins):
        """ℓ(m), elementwise (−inf margins give 0)."""
        positive = np.maximum(margins, 0.0)
        return positive if self.bounded else positive * positive

    def derivative(self, margins, smoothing=0.0):
        """ℓ'(m), elementwise: the smoothed hinge's at width ``smoothing`` > 0, and
        for the hinge the subgradient 0 at m = 0."""
        if not self.bounded:
            return 2.0 * np.maximum(margins, 0.0)
        if smoothing > 0:
            return np.clip(margins / smoothing, 0.0, 1.0)
        return (margins > 0).astype(np.float64)

    def conjugate_sum(self, alpha, bound):
        """Σ_i c_i Σ_j ℓ*(α_ij / c_i) for dual variables ``alpha`` (n, k) inside their
        box, with ``bound`` the c_i: 0 for the hinge, Σ α²/(4 c_i) for the squared
        hinge (rows with c_i = 0 have α = 0 and add nothing)."""
        if self.bounded:
            return 0.0
        # Row sums of squares first: masking the (n, k) array would copy it.
        row_squares = np.einsum("ij,ij->i", alpha, alpha, dtype=np.float64)
        positive = bound > 0
        return float(row_squares[positive] @ (0.25 / bound[positive]))

    def dual_value(self, linear, quadratic):
        """The dual value from its parts D(α) = linear − quadratic, where linear
        (the margin and intercept terms) is linear in α and quadratic ((C/2)‖W(α)‖²
        plus the conjugate sum) is quadratic in α.

        For the squared hinge every t·α with t ≥ 0 is a dual point too, so this is
        max over t ≥ 0 of t·linear − t²·quadratic (linear² / (4·quadratic), or 0
        at t = 0 when linear ≤ 0): never below D(α), and far above it where
        α = c·ℓ'(m) is taken at a point away from the optimum (its scale is then
        off). The hinge's box may not allow t > 1: D(α) itself."""
        if self.bounded:
            return linear - quadratic
        if not (linear > 0.0 and quadratic > 0.0):
            return max(linear - quadratic, 0.0)  # t = 0: α = 0 gives D = 0
        return linear * linear / (4.0 * quadratic)

    def upper_bound(self, bound):
        """The upper ends of the dual box, per row: c_i, or inf."""
        return bound if self.bounded else np.full_like(bound, np.inf)

    def prox(self, v, step):
        """prox of ``step``·ℓ at ``v``, elementwise (``step`` > 0, broadcastable).

        Hinge: v − step above ``step``, 0 on [0, step], v below 0 (shift and clip).
        Squared hinge: v / (1 + 2·step) above 0, v below.
        """
        if self.bounded:
            return np.where(v > step, v - step, np.minimum(v, 0.0))
        return np.where(v > 0, v / (1.0 + 2.0 * step), v)


LOSSES = {
    "hinge": Loss("hinge", HINGE, bounded=True, differentiable=False),
    "squared_hinge": Loss("squared_hinge", SQUARED_HINGE, bounded=False,
                          differentiable=True),
}


def get_loss(name):
    """The :class:`Loss` called ``name``; ValueError for an unknown name."""
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"loss must be one of {sorted(LOSSES)}; got {name!r}.") from None
