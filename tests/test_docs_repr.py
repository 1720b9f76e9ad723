"""The estimator's HTML representation (Jupyter, ``estimator_html_repr``) links to
its page of the API reference, as scikit-learn's own estimators do.

scikit-learn builds the link from two class attributes: ``_doc_link_module`` (the
package whose estimators get a link) and ``_doc_link_template`` (the URL, with the
fields ``{estimator_module}`` and ``{estimator_name}``). The API page of the
estimator is ``generated/sksvm.LinearMulticlassSVM.html`` in the built docs
(tests/test_docs.py checks that it exists).
"""

import re

from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import estimator_html_repr

from sksvm import LinearMulticlassSVM

API_PAGE = "generated/sksvm.LinearMulticlassSVM.html"


def test_doc_link_points_to_the_api_page():
    link = LinearMulticlassSVM()._get_doc_link()
    assert link.startswith("https://"), link
    assert link.endswith("/" + API_PAGE), link
    # Not scikit-learn's own documentation.
    assert "scikit-learn.org" not in link


def test_html_repr_shows_the_link():
    model = LinearMulticlassSVM(C=1e-3)
    link = model._get_doc_link()
    assert link
    html = estimator_html_repr(model)
    assert f'href="{link}"' in html
    # Inside a pipeline too, next to scikit-learn's links.
    html = estimator_html_repr(make_pipeline(StandardScaler(), model))
    assert f'href="{link}"' in html
    assert re.search(r'href="https://scikit-learn\.org/[^"]*StandardScaler\.html"',
                     html)
