"""The test-and-iterate lifecycle: plan, start, guard, conclude, iterate, history.

Pure parts: :mod:`segab.lifecycle.plan` (per-cell power, over-segmentation),
:mod:`segab.lifecycle.guard` (assignment-safe vs unsafe edits) and
:mod:`segab.lifecycle.iterate` (the next iteration's config). The shell,
:mod:`segab.lifecycle.commands`, ties them to the store and the files.

Example:
    >>> from segab.lifecycle.plan import plan_experiment
    >>> plan_experiment.__name__
    'plan_experiment'
"""

from __future__ import annotations
