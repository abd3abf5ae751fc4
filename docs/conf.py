"""Sphinx configuration of the book (the course and its API reference).

``belonging_lib.book.build_book`` assembles the sources in a staging folder
(executed chapters, ``notebooks/glossary.md``, ``docs/api/``, a generated
index) and runs Sphinx with this folder as its configuration directory
(``-c docs``), with warnings as errors (``-W --keep-going``) and nitpicky
references (``-n``). The staging folder's ``book.json`` carries the build's
parameters: the title and the notice on every page (synthetic sample, or the
user's own data).
"""

import json
from pathlib import Path



def _read_params(srcdir):
    path = Path(srcdir) / "book.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


project = "belonging_lib"
author = "belonging_lib developers"
copyright = "belonging_lib developers (MIT licence)"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx_togglebutton",
]

# --- formulas: MathJax ships with the book (sphinx-mathjax-offline's copy of MathJax 3), so a book
# opened on a school network or a laptop without internet shows typeset formulas, never raw TeX.
# The package's own setup() declares no parallel safety (warnings are errors here), so its copy
# step is connected in setup() below, and mathjax_path points at the copy.
mathjax_path = "mathjax/tex-chtml.js"

# --- notebooks: executed before Sphinx runs (belonging_lib.book), rendered as they are
nb_execution_mode = "off"
nb_execution_raise_on_error = True     # if execution is ever switched on here, a raising cell fails
nb_merge_streams = True
myst_enable_extensions = ["colon_fence", "dollarmath", "deflist"]
myst_heading_anchors = 3
exclude_patterns = [".doctrees", "**.ipynb_checkpoints", "book.json"]

# --- warnings are errors (-W on the command line); references are checked (-n, nitpicky)
nitpicky = True
# Third-party and informal type names in docstrings have no target in this book (it is built
# offline, without intersphinx). They are listed here, and only they are ignored.
nitpick_ignore_regex = [
    # Third-party names: the book is built offline, without intersphinx inventories.
    (r"py:.*", r"(pd|pandas|np|numpy|scipy|matplotlib|plt|mpl|statsmodels|sm|semopy|patsy|docx|"
               r"pathlib|os|collections|typing|numbers|datetime|concurrent|json|re|io)(\..*)?"),
    (r"py:.*", r"(DataFrame|Series|Index|ndarray|Axes|Figure|Path|PathLike|Callable|Iterable|"
               r"Sequence|Mapping|Any|Literal|Generator|Iterator|Hashable)"),
    # Informal words in a numpydoc type ("path", "int array", '{"pairwise", "listwise"}',
    # "NaN if not run"): a type field is prose, not a reference. Names of this library
    # (belonging_lib.*, or a capitalised class name) are still checked.
    (r"py:class", r"(?!belonging_lib\.)[^A-Z].*"),
    (r"py:class", r".*[\s{}\"'/].*|\."),
    (r"py:class", r"[A-Z]"),                   # a dimension in an array type: "array (n, B)"
    (r"py:class", r"(True|False|None)"),       # literal values in a type: "DisclosureContext, None or False"
]
# Known unresolvable references in the library's docstrings, listed one by one so that any new
# broken reference fails the build. Fix them in the docstrings, then delete them from this list.
nitpick_ignore = [
    ("py:meth", "summary"),                    # result attributes' "Heading used by :meth:`summary`"
    ("py:func", "reliability"),                # instruments: unqualified, another module
    ("py:func", "belonging_lib._factor.efa"),  # structure.efa: a private function
    ("py:mod", "_mgml"),                       # structure.cfa: a private module
    ("py:meth", "CFAResult.latent_means"),     # plots.structure: not a public method
    ("py:class", "belonging_lib.models._lmm.LMMFit"),  # a private class in a return annotation
    ("py:class", "belonging_lib.survey.design._SurveyTable"),  # the survey results' private base, in "Bases:"
]
# A short name in a type field ("n") matching attributes of several classes is ambiguous.
suppress_warnings = ["ref.python"]

# --- API reference
autodoc_default_options = {"members": True, "show-inheritance": False, "member-order": "bysource"}
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_class_signature = "separated"
autodoc_member_order = "bysource"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False
napoleon_preprocess_types = False

# --- HTML
html_theme = "sphinx_book_theme"
html_title = "Belonging in school"
html_sourcelink_suffix = ""            # the download button gives the executed .ipynb itself
html_show_search_summary = False       # summaries are fetched, which a book opened from file:// cannot
html_context = {"default_mode": "light"}
html_last_updated_fmt = None
html_theme_options = {
    "home_page_in_toc": True,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "show_toc_level": 2,
    "navigation_with_keys": False,
}


def _apply_params(app, config):
    params = _read_params(app.srcdir)
    if params.get("title"):
        config.html_title = params["title"]
    if params.get("notice"):
        config.html_theme_options = dict(config.html_theme_options, announcement=params["notice"])
    if params.get("own_data"):
        # A book on a user's own data ships no copies of its sources: the executed notebooks hold
        # code written for the course's sample, and they stay in the run's own folder.
        config.html_copy_source = False
        config.html_show_sourcelink = False
        config.html_theme_options = dict(config.html_theme_options, use_download_button=False)


def _copy_mathjax(app, exc):
    import importlib

    offline = importlib.import_module("sphinx-mathjax-offline")   # the package's module has this name
    offline.copy_mathjax_files(app, exc)


def setup(app):
    app.connect("config-inited", _apply_params)
    app.connect("build-finished", _copy_mathjax)
    app.add_css_file("book.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}


html_static_path = ["_static"]
