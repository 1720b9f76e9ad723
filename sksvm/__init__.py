"""sksvm: a scikit-learn compatible linear multiclass SVM (Weston-Watkins)."""

from ._estimator import LinearMulticlassSVM
from ._loss_gradient import loss_gradient

__version__ = "0.1.0"

__all__ = ["LinearMulticlassSVM", "loss_gradient", "__version__"]
