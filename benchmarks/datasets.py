"""Data sets for the benchmarks."""

import gzip
import os

import numpy as np

from sksvm._bench import make_dense_blobs  # noqa: F401 (the generator's one home)

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


def _read_idx(path):
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    n_dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(n_dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * n_dims).reshape(shape)


def fashion_mnist_available(directory=FASHION_MNIST_DIR):
    return os.path.exists(os.path.join(directory, "train-images-idx3-ubyte.gz"))


def load_fashion_mnist(directory=FASHION_MNIST_DIR, standardize=True, dtype=np.float64):
    """Fashion-MNIST as (X_train, y_train, X_test, y_test), from the idx files of the
    Debian package ``dataset-fashion-mnist``.

    With ``standardize``, pixels are centred and scaled by the training set's mean and
    standard deviation (constant pixels are left at 0); otherwise they are scaled to
    [0, 1] (pixels / 255).
    """
    if not fashion_mnist_available(directory):
        raise FileNotFoundError(
            f"Fashion-MNIST not found in {directory}; install the Debian package "
            "dataset-fashion-mnist.")
    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = _read_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte.gz"))
        labels = _read_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte.gz"))
        parts[split] = (images.reshape(len(images), -1).astype(dtype), labels.astype(np.int64))
    (X_train, y_train), (X_test, y_test) = parts["train"], parts["test"]
    if standardize:
        mean = X_train.mean(axis=0)
        std = X_train.std(axis=0)
        std[std == 0] = 1.0
        X_train = (X_train - mean) / std
        X_test = (X_test - mean) / std
    else:
        X_train /= 255.0
        X_test /= 255.0
    return (np.ascontiguousarray(X_train, dtype=dtype), y_train,
            np.ascontiguousarray(X_test, dtype=dtype), y_test)
