"""sksvm: a scikit-learn compatible linear multiclass SVM (Weston-Watkins).

The estimator and the loss are imported on first use, so that ``sksvm.cli`` (and
``sksvm --help``) loads without numba and scikit-learn.
"""

__version__ = "0.1.0"

__all__ = ["LinearMulticlassSVM", "LinearMulticlassSVMCV", "loss_gradient", "__version__"]

_LAZY = {"LinearMulticlassSVM": "._estimator", "LinearMulticlassSVMCV": "._cv",
         "loss_gradient": "._loss_gradient"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
