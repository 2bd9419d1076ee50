"""Sphinx configuration for the sklearn-deep documentation.

Build with ``make -C docs html`` (runs the gallery examples) or ``make -C docs html-noplot``
(the pages and the API reference only, without running the examples).
"""

import os
import re
import sys
from datetime import date

import sklearn_deep

# The examples run in this process, Numba's OpenMP kernels first, then torch (which ships its
# own OpenMP runtime). With the default active wait, the idle threads of one runtime spin on the
# cores the other needs, and torch trains 10 to 100 times slower. A passive wait avoids that; it
# must be set before either runtime starts. One torch thread suits the examples' tiny networks.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, os.path.abspath("."))

project = "sklearn-deep"
author = "sklearn-deep developers"
copyright = f"{date.today().year}, {author}"
release = sklearn_deep.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.intersphinx",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

# Every cross-reference must resolve (a broken one fails the build, which runs with -W). The
# inventories of scikit-learn, NumPy, PyTorch, SciPy and Python are written from the installed
# packages (no network at build time): see _offline_inventories.py.
nitpicky = True
from _offline_inventories import intersphinx_mapping as _offline_mapping  # noqa: E402

intersphinx_mapping = _offline_mapping(os.path.join(os.path.dirname(__file__), "_build", "inv"))
intersphinx_disabled_reftypes = ["std:doc"]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**/README.rst"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
default_role = "literal"

# -- autodoc / autosummary / numpydoc ------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True}
autodoc_typehints = "none"
# numpydoc renders the class members through our autosummary template, not by itself
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- HTML -----------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-deep {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
}
html_show_sourcelink = False

# -- sphinx-gallery -------------------------------------------------------------------------
# ``make html-noplot`` sets SKLEARN_DEEP_DOCS_PLOT=0: the examples are not run, and the user
# guide leaves out the figures that the examples would have made (``.. only:: gallery_plots``).
_plot_gallery = os.environ.get("SKLEARN_DEEP_DOCS_PLOT", "1") != "0"
if _plot_gallery:
    tags.add("gallery_plots")  # noqa: F821 (``tags`` is given to conf.py by Sphinx)
else:
    # the figures of the user guide are made by the gallery, which is not run
    suppress_warnings = ["image.not_readable"]

sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("sklearn_deep",),
    "backreferences_dir": "gen_modules/backreferences",
    "reference_url": {"sklearn_deep": None},
    "plot_gallery": str(_plot_gallery),
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "show_memory": False,
    "min_reported_time": 1,
    "write_computation_times": False,
}


# -- references inside docstrings ----------------------------------------------------------
# Our estimators inherit methods (get_params, set_output, get_metadata_routing, ...) from
# scikit-learn, whose docstrings point to labels and glossary terms of scikit-learn's own
# documentation (":ref:`metadata_routing`", ":term:`random_state`"). Without network access
# there is no intersphinx inventory to resolve them, so a reference that comes from a docstring
# and cannot be resolved is shown as plain text. References written in our own pages must still
# resolve: they are not touched and a broken one fails the build.
def _docstring_reference_as_text(app, env, node, contnode):
    if node.get("refdomain") == "std" and node.get("reftype") in {"ref", "term", "doc"}:
        source = node.source or ""
        if "docstring of " in source:
            return contnode
    return None


# numpydoc renders the type of a parameter as reST text, where a fitted-attribute name such as
# ``n_features_in_`` in "ndarray of shape (n_features_in_,)" reads as a hyperlink target
# ("Unknown target name"). scikit-learn writes such names in backticks; we quote the bare ones
# of type lines before numpydoc parses the docstring.
_TYPE_LINE = re.compile(r"^(\s*[*\w][\w, *]* : )(.+)$")
_BARE_ATTRIBUTE = re.compile(r"(?<![`\w'\"])([A-Za-z]\w*_)(?![`\w])")


# Likewise a shape written "(n_samples, *input_shape)" outside backticks opens an emphasis that
# never closes; the star is escaped (outside literals and doctest lines).
_STAR_IN_SHAPE = re.compile(r"(?<=[(\s])\*(?=[A-Za-z_]\w*[),])")
_LITERAL = re.compile(r"(``.*?``|`[^`]*`)")


def _escape_star_in_shapes(line):
    if line.lstrip().startswith((">>>", "...")):
        return line
    parts = _LITERAL.split(line)
    return "".join(p if p.startswith("`") else _STAR_IN_SHAPE.sub(r"\\*", p) for p in parts)


def _quote_attribute_names_in_types(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        match = _TYPE_LINE.match(line)
        if match:
            line = match.group(1) + _BARE_ATTRIBUTE.sub(r"``\1``", match.group(2))
        lines[i] = _escape_star_in_shapes(line)


def setup(app):
    app.connect("missing-reference", _docstring_reference_as_text)
    # before numpydoc's own handler (priority 500)
    app.connect("autodoc-process-docstring", _quote_attribute_names_in_types, priority=400)
