"""
=====================================================
Text classification: a TF-IDF and SVM pipeline
=====================================================

The usual way to classify raw text with scikit-learn is a
:class:`~sklearn.pipeline.Pipeline` that turns the documents into sparse TF-IDF
features with :class:`~sklearn.feature_extraction.text.TfidfVectorizer` and hands
them to a linear classifier. :class:`~sksvm.LinearMulticlassSVM` takes that place
as it is: it accepts the vectorizer's CSR matrix without densifying it, and the
pipeline can be cross-validated and tuned like any other.

The corpus is a small synthetic one, written by the code below, so that the
example needs no download: short "news" sentences on four topics, built from topic
words, words shared by all topics, and a few words borrowed from other topics.
"""

# %%
# A tiny corpus
# -------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline

from sksvm import LinearMulticlassSVM

TOPICS = {
    "sports": "match team goal coach season league player score win defeat "
              "stadium referee striker tournament final cup keeper transfer fans "
              "injury".split(),
    "cooking": "recipe oven flour butter sauce garlic onion simmer bake dough "
               "pepper salt kitchen chef roast dessert pasta spice boil taste".split(),
    "computers": "software laptop keyboard processor memory server network code "
                 "update screen battery chip cloud data program install bug "
                 "password browser".split(),
    "weather": "rain storm forecast wind sunny cloudy snow temperature degrees "
               "humidity thunder frost heatwave flood drought breeze fog "
               "pressure warning".split(),
}
COMMON = ("the a of to and in on for with new this that today week said people "
          "after more first last year good long time make about over").split()


def make_corpus(n_documents, rng):
    """Sentences of 8 to 16 words: about half common words, most of the rest from
    the document's topic, a few from another topic."""
    names = sorted(TOPICS)
    documents, labels = [], []
    for _ in range(n_documents):
        topic = rng.choice(names)
        other = rng.choice([name for name in names if name != topic])
        words = []
        for _ in range(rng.integers(8, 17)):
            draw = rng.random()
            pool = (COMMON if draw < 0.5 else
                    TOPICS[topic] if draw < 0.85 else TOPICS[other])
            words.append(rng.choice(pool))
        documents.append(" ".join(words))
        labels.append(topic)
    return documents, np.array(labels)


rng = np.random.default_rng(0)
documents, labels = make_corpus(800, rng)
print("two documents:", *documents[:2], sep="\n  ")
docs_train, docs_test, y_train, y_test = train_test_split(
    documents, labels, test_size=0.25, stratify=labels, random_state=0)

# %%
# The pipeline
# ------------
# Fitted on the raw strings; ``predict`` takes strings too.
pipeline = Pipeline([
    ("tfidf", TfidfVectorizer(sublinear_tf=True)),
    ("svm", LinearMulticlassSVM(C=1e-3, random_state=0)),
])
pipeline.fit(docs_train, y_train)
print(f"TF-IDF features: {len(pipeline['tfidf'].vocabulary_)} words, "
      f"stored as {type(pipeline['tfidf'].transform(docs_test[:1])).__name__}")
print(f"test accuracy: {pipeline.score(docs_test, y_test):.3f}")
print(pipeline.predict(["heavy rain and wind expected in the forecast",
                        "the chef said to bake the dough in a hot oven"]))

# %%
# Tuning C and the n-grams together
# ---------------------------------
# The pipeline's steps are tuned jointly, with the ``step__parameter`` names.
# Remember that our ``C`` is a regularization strength: larger C, simpler model.
search = GridSearchCV(
    pipeline,
    {"svm__C": np.logspace(-4, -1, 4), "tfidf__ngram_range": [(1, 1), (1, 2)]},
    cv=3)
search.fit(docs_train, y_train)
print("best parameters:", search.best_params_)
print(f"cross-validated accuracy {search.best_score_:.3f}, "
      f"test accuracy {search.score(docs_test, y_test):.3f}")

# %%
# What the model learned
# ----------------------
# Each class has a weight vector over the vocabulary; its largest weights are the
# words that vote for the class.
best = search.best_estimator_
vocabulary = best["tfidf"].get_feature_names_out()
svm = best["svm"]
fig, axes = plt.subplots(1, len(svm.classes_), figsize=(12, 3.6),
                         layout="constrained")
for ax, name, weights in zip(axes, svm.classes_, svm.coef_):
    top = np.argsort(weights)[-8:]
    ax.barh(vocabulary[top], weights[top], color="tab:blue")
    ax.set_title(name)
    ax.set_xlabel("weight")
fig.suptitle("The eight largest weights of each class")
plt.show()

# %%
# Each class's largest weights belong to its own topic's words; the words common to
# all topics are not among them: TF-IDF discounts them, and they do not separate
# the topics.
