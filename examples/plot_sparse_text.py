"""
=============================================
Sparse text classification with CSR input
=============================================

Bag-of-words features are sparse: a document uses a few dozen words of a vocabulary
of thousands. :class:`~sksvm.LinearMulticlassSVM` takes a SciPy CSR matrix as it is
(its kernels loop over the stored entries only) and solves the same problem as for
the dense array.

The documents here are synthetic, so the example needs no download: each of five
topics draws its words from a shared, Zipf-distributed background vocabulary and from
a topic vocabulary that overlaps with the other topics'. They are turned into TF-IDF
features by :class:`~sklearn.feature_extraction.text.TfidfVectorizer`, exactly as real
text would be. The model uses ``solver="dual_cd"``, dual coordinate ascent, whose
epochs cost one pass over the stored entries and which is the fastest solver for
sparse, high-dimensional data. It is compared with
:class:`~sklearn.linear_model.SGDClassifier`, scikit-learn's usual choice for large
sparse problems, with the hinge loss. SGDClassifier's ``alpha`` plays the same role as
our ``C``: both multiply :math:`\\frac{1}{2}\\lVert W\\rVert^2` next to a mean loss, but
SGDClassifier fits one-vs-rest and stops after a few passes of stochastic steps.
"""

# %%
# Synthetic documents
# -------------------
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split

from sksvm import LinearMulticlassSVM

rng = np.random.RandomState(0)
n_documents, n_topics, vocabulary_size = 3000, 5, 5000
words = np.array([f"w{i:04d}" for i in range(vocabulary_size)])
background = 1.0 / np.arange(1, vocabulary_size + 1)  # Zipf's law
background /= background.sum()
topic_words = [rng.choice(vocabulary_size, 300, replace=False) for _ in range(n_topics)]


def make_document(topic):
    length = rng.randint(20, 80)
    n_topical = rng.binomial(length, 0.15)
    tokens = np.concatenate([
        rng.choice(vocabulary_size, length - n_topical, p=background),
        rng.choice(topic_words[topic], n_topical)])
    return " ".join(words[tokens])


topics = rng.randint(n_topics, size=n_documents)
documents = [make_document(topic) for topic in topics]
print(documents[0][:100], "...")

docs_train, docs_test, y_train, y_test = train_test_split(
    documents, topics, test_size=0.3, random_state=0, stratify=topics)
vectorizer = TfidfVectorizer()
X_train = vectorizer.fit_transform(docs_train)
X_test = vectorizer.transform(docs_test)
print(f"X_train: {type(X_train).__name__} of shape {X_train.shape}, "
      f"{X_train.nnz / np.prod(X_train.shape):.2%} of the entries stored")

# %%
# Sparse and dense input give the same model
# ------------------------------------------
# Both fits stop at the same tolerance, so they agree to within it; the objective
# values and the predictions are what to compare.
X_dense = X_train.toarray()
sparse_model = LinearMulticlassSVM(C=1e-2, solver="dual_cd", random_state=0)
sparse_model.fit(X_train, y_train)
dense_model = LinearMulticlassSVM(C=1e-2, solver="dual_cd", random_state=0)
dense_model.fit(X_dense, y_train)
print(f"objective, CSR fit:   {sparse_model.objective(X_train, y_train):.6f}")
print(f"objective, dense fit: {dense_model.objective(X_dense, y_train):.6f}")
print("predictions that differ:",
      np.sum(sparse_model.predict(X_test) != dense_model.predict(X_test.toarray())))

# %%
# Accuracy and fit time against the regularization strength
# ----------------------------------------------------------
strengths = np.logspace(-4, -1, 7)
records = {"LinearMulticlassSVM": [], "SGDClassifier (hinge)": []}
for strength in strengths:
    for name in records:
        if name == "LinearMulticlassSVM":
            model = LinearMulticlassSVM(C=strength, solver="dual_cd",
                                        random_state=0)
        else:
            model = SGDClassifier(loss="hinge", alpha=strength, random_state=0)
        start = time.perf_counter()
        model.fit(X_train, y_train)
        fit_time = time.perf_counter() - start
        records[name].append((model.score(X_test, y_test), fit_time))
        print(f"{name:<22} C/alpha={strength:.1e}  accuracy "
              f"{records[name][-1][0]:.4f}  fit time {fit_time:.2f} s")

fig, (ax_accuracy, ax_time) = plt.subplots(1, 2, figsize=(11, 4.5),
                                           layout="constrained")
for name, values in records.items():
    accuracy, fit_time = np.array(values).T
    ax_accuracy.semilogx(strengths, accuracy, marker="o", label=name)
    ax_time.loglog(strengths, fit_time, marker="o", label=name)
ax_accuracy.set_xlabel("C (LinearMulticlassSVM) / alpha (SGDClassifier)")
ax_accuracy.set_ylabel("test accuracy")
ax_accuracy.set_title("Test accuracy")
ax_time.set_xlabel("C (LinearMulticlassSVM) / alpha (SGDClassifier)")
ax_time.set_ylabel("fit time (s)")
ax_time.set_title("Fit time")
for ax in (ax_accuracy, ax_time):
    ax.legend()
plt.show()

# %%
# With weak to moderate regularization the two reach similar accuracy, and both
# fit in a fraction of a second: SGDClassifier takes a few stochastic passes, the
# dual solver a few exact ones, and it stops with a certified duality gap.
#
# Strong regularization hurts the joint model sooner: TF-IDF rows have unit norm, so
# the scores are small, and once :math:`\frac{C}{2}\lVert W\rVert^2` outweighs the
# k - 1 hinges of a sample the weights shrink until the intercepts, which are not
# penalized, decide most predictions. Choose C by cross-validation (see
# :ref:`sphx_glr_auto_examples_plot_grid_search.py`).
