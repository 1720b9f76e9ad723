"""The run's data sets: generation, and an on-disk cache for restarted workers."""

import json
import os
import time

import numpy as np
import scipy.sparse as sp


def _fashion(spec):
    from datasets import load_fashion_mnist

    X, y, X_test, y_test = load_fashion_mnist(standardize=True)
    X_raw, _, X_raw_test, _ = load_fashion_mnist(standardize=False)
    n, n_test = spec["n_train"], spec["n_test"]
    if n:  # A class-balanced prefix (the files are shuffled).
        X, y, X_raw = X[:n], y[:n], X_raw[:n]
        X_test, y_test, X_raw_test = X_test[:n_test], y_test[:n_test], X_raw_test[:n_test]
    arrays = dict(X=X, y=y, X_test=X_test, y_test=y_test, X_raw=X_raw,
                  X_raw_test=X_raw_test)
    return arrays, "standardized Fashion-MNIST (LinearSVC: pixels / 255)"


def _sparse(spec):
    from sparse_text import make_sparse_text

    X, y = make_sparse_text(n_docs=spec["n_train"] + spec["n_test"],
                            n_terms=spec["n_terms"], n_classes=spec["n_classes"],
                            min_terms=spec["min_terms"], max_terms=spec["max_terms"],
                            seed=0)
    return (_split(X, y, spec["n_train"]),
            "synthetic TF-IDF text (sparse_text.make_sparse_text), CSR")


def _dense(spec):
    from datasets import make_dense_blobs

    X, y = make_dense_blobs(n_samples=spec["n_train"] + spec["n_test"],
                            n_features=spec["n_features"], n_classes=spec["n_classes"],
                            seed=0)
    return (_split(X, y, spec["n_train"]),
            "Gaussian blobs (datasets.make_dense_blobs), dense float64")


def _split(X, y, n_train):
    return dict(X=X[:n_train], y=y[:n_train], X_test=X[n_train:], y_test=y[n_train:])


#: Data set name -> function(spec) returning (arrays, description).
MAKERS = {"fashion": _fashion, "sparse": _sparse, "dense": _dense}


def make_dataset(name, spec):
    """Generate one data set.

    Parameters
    ----------
    name : {"fashion", "sparse", "dense"}
    spec : dict
        Its entry of ``config.DATASET_SPECS``.

    Returns
    -------
    arrays : dict
        ``X``, ``y``, ``X_test``, ``y_test`` (C-contiguous or CSR); Fashion-MNIST
        adds ``X_raw`` and ``X_raw_test`` (pixels / 255, for LinearSVC).
    meta : dict
        Sizes, C, density, bytes of X and generation time.
    """
    if name not in MAKERS:
        raise ValueError(f"unknown data set {name!r}")
    start = time.perf_counter()
    arrays, description = MAKERS[name](spec)
    arrays = {key: (sp.csr_matrix(value) if sp.issparse(value)
                    else np.ascontiguousarray(value)) for key, value in arrays.items()}
    X = arrays["X"]
    meta = dict(name=name, description=description, n_train=X.shape[0],
                n_test=arrays["X_test"].shape[0], n_features=X.shape[1],
                n_classes=int(len(np.unique(arrays["y"]))), C=spec["C"],
                sparse=sp.issparse(X), dtype=str(X.dtype),
                generate_seconds=time.perf_counter() - start)
    if sp.issparse(X):
        meta["density"] = X.nnz / (X.shape[0] * X.shape[1])
    meta["x_bytes"] = matrix_bytes(X)
    return arrays, meta


def matrix_bytes(X):
    """Bytes held by a dense array or by the three arrays of a CSR matrix."""
    if sp.issparse(X):
        return int(X.data.nbytes + X.indices.nbytes + X.indptr.nbytes)
    return int(X.nbytes)


def _save(arrays, meta, npz_path, meta_path):
    flat = {}
    for key, value in arrays.items():
        if sp.issparse(value):
            flat.update({key + "__data": value.data, key + "__indices": value.indices,
                         key + "__indptr": value.indptr,
                         key + "__shape": np.array(value.shape)})
        else:
            flat[key] = value
    np.savez(npz_path, **flat)
    with open(meta_path, "w") as handle:
        json.dump(meta, handle)


def _load(npz_path, meta_path):
    with open(meta_path) as handle:
        meta = json.load(handle)
    stored = np.load(npz_path, allow_pickle=False)
    arrays = {}
    for key in {name.split("__")[0] for name in stored.files}:
        if key + "__data" in stored.files:
            arrays[key] = sp.csr_matrix(
                (stored[key + "__data"], stored[key + "__indices"],
                 stored[key + "__indptr"]), shape=tuple(stored[key + "__shape"]))
        else:
            arrays[key] = np.ascontiguousarray(stored[key])
    return arrays, meta


def load_dataset(name, spec, cache_dir):
    """Generate a data set once, then reload it from ``cache_dir``.

    Parameters
    ----------
    name, spec
        As for :func:`make_dataset`.
    cache_dir : str
        Folder of the run's cache (a restarted worker reads it).

    Returns
    -------
    arrays, meta
        As for :func:`make_dataset`.
    """
    npz_path = os.path.join(cache_dir, name + ".npz")
    meta_path = os.path.join(cache_dir, name + ".json")
    if os.path.exists(meta_path):
        return _load(npz_path, meta_path)
    arrays, meta = make_dataset(name, spec)
    _save(arrays, meta, npz_path, meta_path)
    return arrays, meta
