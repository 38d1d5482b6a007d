"""Sphinx configuration for the lmfit_ref book.

Every chapter is a MyST text notebook executed at every build
(``nb_execution_mode = "force"``); a cell that raises fails the build
unless it is tagged ``raises-exception``, and the traceback is printed.
Build with warnings as errors: ``python3 tasks.py book`` (``sphinx -W``).

Formulas are rendered by a MathJax copy shipped in the
``sphinx-mathjax-offline`` wheel and written into ``_static``, so the
built book shows typeset math with no network.
"""
project = "lmfit_ref"
author = "the lmfit_ref developers"
copyright = "2026, the lmfit_ref developers"

extensions = [
    "myst_nb",
    "sphinx-mathjax-offline",  # local MathJax 3: math renders offline
]

# -- MyST-NB: execute everything, every time ---------------------------------
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_timeout = 600
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]

# -- HTML ---------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "lmfit_ref: least squares with Parameters, explained"
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
}
html_static_path = []
