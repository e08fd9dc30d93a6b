"""The DuckDB fast path for event logs (private): hashed staging, partitions, unit pivots.

Its one entry point is :func:`segab.sums._fast.hashed_plan.run_hashed_event_log`,
reached only through :func:`segab.sums.aggregate.aggregate_event_log`. Callers ask
:func:`~segab.sums._fast.hashed_plan.usable_for` first; when the plan meets what it
cannot answer while running (a hash collision, an undeclared name), it raises
:class:`~segab.sums._fast.hashed_plan.FastPathUnavailableError`, the one typed fallback,
and the generic plan of :mod:`segab.sums.plan` answers instead.
"""
