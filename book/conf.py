"""Sphinx configuration of the course's static book (`make book`; tools/build_book.py stages the sources).

The notebooks are rendered from their stored outputs (never executed), and nothing on a page loads from
another host: no CDN fonts, scripts, widget managers or math renderers, so the site reads the same offline.
"""
project = "Deep learning from pixels up"
author = "the course's authors"
copyright = "2026, the course's authors"

extensions = ["myst_nb"]
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# Stored outputs only: the build never starts a kernel.
nb_execution_mode = "off"
# No widget manager from a CDN: the chapters' widgets are shown as the static figures they also draw.
nb_ipywidgets_js = {}
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None),
                              ("html", "application/vnd.jupyter.widget-state+json", None)]
nb_merge_streams = True
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header"]

html_theme = "sphinx_book_theme"
html_title = project
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = None
html_theme_options = {
    "show_navbar_depth": 1,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "show_toc_level": 2,
    "navigation_with_keys": False,
}
# An empty colour mode makes the theme log a console error on a first visit; start light.
html_context = {"default_mode": "light"}
