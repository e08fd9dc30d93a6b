"""The DuckDB fast path for event logs (private): hashed staging, partitions, unit pivots.

Its one entry point is :func:`segab.sums._fast.hashed.run_hashed_event_log`,
reached only through :func:`segab.sums.aggregate.aggregate_event_log`. Callers ask
:func:`~segab.sums._fast.hashed.usable_for` first; when the fast path meets what it
cannot answer while running (a hash collision, an undeclared name), it raises
:class:`~segab.sums._fast.hashed.FastPathUnavailableError`, the one typed fallback,
and the generic route of :mod:`segab.sums.statements` answers instead.
"""
