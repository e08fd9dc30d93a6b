"""The output formats of ``segab analyze``, importable without the rendering stack.

The command line builds its ``--format`` choice from :data:`FORMATS` when the
command loads; :mod:`segab.report.render` (rich, the results and, through them,
SciPy) loads only once a result is rendered.

Example:
    >>> FORMATS
    ('table', 'json', 'csv', 'html')
"""

from __future__ import annotations

__all__ = ["FORMATS"]

FORMATS = ("table", "json", "csv", "html")
