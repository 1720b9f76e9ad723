"""Write the intersphinx inventories of scikit-learn, NumPy and SciPy shipped here.

The documentation links to these projects' online API pages through
``sphinx.ext.intersphinx``, which normally downloads each project's
``objects.inv``. The docs are built without network access, so ``conf.py`` reads
the inventories in this folder instead. They are *minimal* inventories, written
by this script from the public names of the installed packages (each module's
``__all__``) and the URL scheme of each project's API reference, plus a few
user-guide labels; they are not copies of the projects' own files.

Run it after upgrading one of the packages, or to add a module::

    python docs/_intersphinx/make_inventories.py

A name missing from an inventory is not an error: the reference is then shown as
plain text (the build is not nitpicky), and ``tests/test_docs.py`` checks that the
names the pages use do link.
"""

import importlib
import inspect
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

# project -> (package, modules whose __all__ is listed, page of one object,
#             extra std:label entries {label: (page, title)})
PROJECTS = {
    "sklearn": dict(
        project="scikit-learn", package="sklearn",
        modules=["sklearn." + name for name in (
            "base", "calibration", "cluster", "compose", "covariance",
            "cross_decomposition", "datasets", "decomposition",
            "discriminant_analysis", "dummy", "ensemble", "exceptions",
            "feature_extraction", "feature_extraction.text", "feature_selection",
            "gaussian_process", "impute", "inspection", "isotonic",
            "kernel_approximation", "kernel_ridge", "linear_model", "manifold",
            "metrics", "mixture", "model_selection", "multiclass", "multioutput",
            "naive_bayes", "neighbors", "neural_network", "pipeline",
            "preprocessing", "random_projection", "semi_supervised", "svm",
            "tree", "utils")] + ["sklearn"],
        page="modules/generated/{name}.html#$",
        labels={
            "calibration": ("modules/calibration.html#calibration",
                            "Probability calibration"),
            "cross_validation": ("modules/cross_validation.html#cross-validation",
                                 "Cross-validation: evaluating estimator performance"),
            "grid_search": ("modules/grid_search.html#grid-search",
                            "Tuning the hyper-parameters of an estimator"),
            "svm": ("modules/svm.html#svm", "Support Vector Machines"),
            "svm_multi_class": ("modules/svm.html#multi-class-classification",
                                "Multi-class classification"),
            "combining_estimators": ("modules/compose.html#combining-estimators",
                                     "Pipelines and composite estimators"),
            "text_feature_extraction": (
                "modules/feature_extraction.html#text-feature-extraction",
                "Text feature extraction"),
            "multiclass": ("modules/multiclass.html#multiclass",
                           "Multiclass and multioutput algorithms"),
        }),
    "numpy": dict(
        project="NumPy", package="numpy",
        modules=["numpy", "numpy.linalg"],
        # Scalar types and the like are not on pages of their own.
        classes=["numpy.ndarray", "numpy.dtype"],
        page="reference/generated/{name}.html#$",
        labels={}),
    "scipy": dict(
        project="SciPy", package="scipy",
        modules=["scipy.sparse", "scipy.sparse.linalg", "scipy.optimize",
                 "scipy.special", "scipy.linalg"],
        page="reference/generated/{name}.html#$",
        labels={}),
}


def _entries(spec):
    entries = {}
    for module_name in spec["modules"]:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        entries[module_name] = "py:module"
        names = getattr(module, "__all__", None)
        if names is None:  # e.g. sklearn.calibration: the names defined there
            names = [attr for attr, obj in vars(module).items()
                     if getattr(obj, "__module__", "") == module_name]
        for attr in sorted(names):
            if attr.startswith("_"):
                continue
            try:
                obj = getattr(module, attr)
            except Exception:  # e.g. experimental names that need an opt-in
                continue
            if inspect.ismodule(obj):
                continue
            role = "py:class" if inspect.isclass(obj) else "py:function"
            if (role == "py:class" and "classes" in spec
                    and f"{module_name}.{attr}" not in spec["classes"]):
                continue
            entries.setdefault(f"{module_name}.{attr}", role)
    return entries


def write_inventory(key, spec):
    package = importlib.import_module(spec["package"])
    version = ".".join(package.__version__.split(".")[:2])
    lines = []
    for name, role in sorted(_entries(spec).items()):
        if role == "py:module":
            continue  # module pages have no uniform URL; list the objects only
        lines.append(f"{name} {role} 1 {spec['page'].format(name=name)} -")
    for label, (uri, title) in sorted(spec["labels"].items()):
        lines.append(f"{label} std:label -1 {uri} {title}")
    header = (f"# Sphinx inventory version 2\n# Project: {spec['project']}\n"
              f"# Version: {version}\n"
              "# The remainder of this file is compressed using zlib.\n")
    body = zlib.compress(("\n".join(lines) + "\n").encode("utf-8"), 9)
    (HERE / f"{key}.inv").write_bytes(header.encode("utf-8") + body)
    return len(lines)


if __name__ == "__main__":
    for key, spec in PROJECTS.items():
        print(f"{key}.inv: {write_inventory(key, spec)} entries")
