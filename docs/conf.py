"""Sphinx configuration: the Markdown pages of docs/ (and the README as the front page),
read by MyST."""

project = "msopt"
author = "the msopt authors"
extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3
html_theme = "alabaster"
html_title = "msopt"
# Links to the repository's files (bench/, tests/, csrc/) are not pages of the site.
suppress_warnings = ["myst.xref_missing"]
