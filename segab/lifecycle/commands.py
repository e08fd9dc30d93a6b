"""The lifecycle shell: start, stop, conclude and iterate experiments against the store.

Every state lives in the store (``--db URL``, ``$SEGAB_DB``, else ``sqlite:///segab.db``):
the registry row of (key, iteration) holds the status and the config that ran, with its
fingerprint; analysis snapshots hold the results. The config file's ``status:`` line is
kept in step (a one-line edit that keeps comments), because assignment reads it:
``stopped``/``concluded`` experiments serve the control to everyone.

States: ``draft`` → ``running`` (``start``) ⇄ ``stopped`` (``stop``/``start``) →
``concluded`` (``conclude``, or ``iterate``, which also writes iteration N+1 as ``draft``).
While an iteration is running or stopped, :func:`check_running_edit` compares the file
with the config that ran (:func:`segab.lifecycle.guard.compare_configs`) and refuses
edits that would move assigned units (:class:`~segab.errors.UnsafeEditError`).

Example:
    >>> set_status_text("key: e\\nstatus: draft  # note\\n", "running")
    'key: e\\nstatus: running  # note\\n'
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Engine

from segab.analysis.api import analyze
from segab.analysis.results import AnalysisResult
from segab.config import fingerprint, load_experiment, load_experiments, parse_experiment
from segab.config.models import Experiment
from segab.errors import LifecycleError, UnsafeEditError
from segab.lifecycle.allocation_history import graduated_cells
from segab.lifecycle.changes import Change, format_changes, refused
from segab.lifecycle.graduation import (
    bandit_config,
    cell_arms,
    close_bandit_phase,
    graduated_rows,
)
from segab.lifecycle.guard import compare_configs
from segab.lifecycle.iterate import CellOutcome, next_config, primary_rows
from segab.store import (
    ExperimentRecord,
    allocation_periods,
    config_fingerprint,
    get_experiment,
    list_snapshots,
    register_checked,
    register_experiment,
    save_snapshot,
    set_status,
)
from segab.store.models import EVENTS_TABLE, EXPOSURES_TABLE

__all__ = [
    "IterateResult",
    "StartResult",
    "check_running_edit",
    "conclude_experiment",
    "iterate_experiment",
    "load_config",
    "recorded_experiment",
    "set_status_text",
    "start_experiment",
    "stop_experiment",
]

HISTORY_DIR = "history"
_STATUS_LINE = re.compile(r"^status:[ \t]*[^\s#]*", re.MULTILINE)


def set_status_text(text: str, status: str) -> str:
    """Set the ``status:`` line of a config file's text, keeping everything else.

    Example:
        >>> set_status_text("key: e\\nname: E\\n", "stopped")
        'key: e\\nstatus: stopped\\nname: E\\n'
    """
    if _STATUS_LINE.search(text):
        return _STATUS_LINE.sub(f"status: {status}", text, count=1)
    key = re.search(r"^key:.*$", text, re.MULTILINE)
    if key is None:
        return f"status: {status}\n{text}"
    return text[: key.end()] + f"\nstatus: {status}" + text[key.end() :]


def load_config(key: str, experiments: str | Path) -> Experiment:
    """Load experiment ``key`` from a config file or directory.

    Example:
        >>> load_config("journey_content", "experiments").key     # doctest: +SKIP
        'journey_content'
    """
    return load_experiments(experiments)[key]


def recorded_experiment(record: ExperimentRecord) -> Experiment:
    """The validated config stored with a registry record.

    Example:
        >>> recorded_experiment.__name__
        'recorded_experiment'
    """
    return parse_experiment(record.config, f"<store {record.key} iteration {record.iteration}>")


def _write_status(exp: Experiment, status: str) -> None:
    """Set the file's ``status:`` line: unchanged files are not written; others are replaced
    atomically (written beside, then renamed), so a concurrent reader never sees half a file."""
    path = Path(exp.source)
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8")
    new = set_status_text(text, status)
    if new == text:
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(new)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _as_status(exp: Experiment, status: str) -> dict[str, Any]:
    return {**exp.model_dump(mode="json"), "status": status}


def check_running_edit(
    experiment: Experiment, engine: Engine, *, strict: bool = False
) -> list[Change]:
    """Compare a config with the running (or stopped) iteration in the store; refuse unsafe edits.

    Returns every change (empty when the experiment is not registered, is a draft
    or is concluded). Raises :class:`UnsafeEditError` listing the refused changes
    (unsafe ones; warnings too with ``strict``) and naming the fingerprint of the
    config in the store. ``segab validate --db`` can call this.

    Example:
        >>> check_running_edit.__name__
        'check_running_edit'
    """
    return _edit_changes(experiment, get_experiment(engine, experiment.key), strict=strict)


def _edit_changes(
    experiment: Experiment, record: ExperimentRecord | None, *, strict: bool = False
) -> list[Change]:
    """:func:`check_running_edit` against a registry record already read (pure)."""
    if record is None or record.status not in ("running", "stopped"):
        return []
    ran = recorded_experiment(record)
    changes = [c for c in compare_configs(ran, experiment) if c.path != "status"]
    bad = refused(changes, strict=strict)
    if bad:
        mine = config_fingerprint(_as_status(experiment, record.status))
        raise UnsafeEditError(
            f"{experiment.source}: experiment {experiment.key!r} iteration {record.iteration} "
            f"is {record.status} with config fingerprint {record.config_fingerprint[:12]} in "
            f"the store (this file: {mine[:12]}), and this edit would move already-assigned "
            f"units:\n{format_changes(bad)}\n"
            "Undo the edit, or start a new iteration with `segab iterate "
            f"{experiment.key}` (it concludes this one and re-randomises)."
        )
    return changes


@dataclass(frozen=True)
class StartResult:
    """What ``start`` did: the iteration, its fingerprint and the in-place changes accepted.

    Example:
        >>> StartResult("e", 1, "ab", "draft").previous
        'draft'
    """

    key: str
    iteration: int
    fingerprint: str
    previous: str | None
    changes: tuple[Change, ...] = field(default=())


def start_experiment(key: str, experiments: str | Path, engine: Engine) -> StartResult:
    """Start (or resume) the file's iteration of ``key``: record its config and fingerprint.

    Refuses a concluded iteration, an iteration older than the store's latest, and
    (like :func:`check_running_edit`) an unsafe edit of a running or stopped one.
    The checks and the write are one transaction serialised per key
    (:func:`~segab.store.register_checked`): of concurrent starts with conflicting
    configs exactly one wins; the others are refused with the winner's fingerprint.
    Starting the config that already runs again succeeds (idempotent).

    Example:
        >>> start_experiment.__name__
        'start_experiment'
    """
    exp = load_config(key, experiments)
    seen: dict[str, Any] = {}

    def check(latest: ExperimentRecord | None, record: ExperimentRecord | None) -> None:
        if latest is not None and latest.iteration > exp.iteration:
            raise LifecycleError(
                f"{exp.source}: iteration {exp.iteration} found, but the store already has "
                f"iteration {latest.iteration} of {key!r} (config fingerprint "
                f"{latest.config_fingerprint[:12]}): expected the latest config file"
            )
        if record is not None and record.status == "concluded":
            raise LifecycleError(
                f"{key!r} iteration {exp.iteration} is concluded (config fingerprint "
                f"{record.config_fingerprint[:12]}): expected a new iteration "
                f"(`segab iterate {key}`)"
            )
        seen["changes"] = _edit_changes(exp, latest)
        seen["previous"] = record.status if record else None

    fp = register_checked(engine, key, exp.iteration, "running", _as_status(exp, "running"), check)
    _write_status(exp, "running")
    return StartResult(key, exp.iteration, fp, seen["previous"], tuple(seen["changes"]))


def _current(key: str, engine: Engine, allowed: tuple[str, ...]) -> ExperimentRecord:
    record = get_experiment(engine, key)
    if record is None:
        raise LifecycleError(f"{key!r} is not registered in the store: run `segab start {key}`")
    if record.status not in allowed:
        raise LifecycleError(
            f"{key!r} iteration {record.iteration} is {record.status}: expected one of {allowed}"
        )
    return record


def stop_experiment(key: str, experiments: str | Path, engine: Engine) -> ExperimentRecord:
    """Stop the running iteration: everyone sees the control; ``start`` resumes it.

    Example:
        >>> stop_experiment.__name__
        'stop_experiment'
    """
    record = _current(key, engine, ("running",))
    set_status(engine, key, record.iteration, "stopped")
    exp = load_config(key, experiments)
    if exp.iteration == record.iteration:
        _write_status(exp, "stopped")
    return record


def _store_exposures(engine: Engine, key: str, iteration: int) -> int:
    table = EXPOSURES_TABLE
    query = sa.select(sa.func.count()).where(
        table.c.experiment == key, table.c.iteration == iteration
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def analyze_iteration(
    ran: Experiment,
    engine: Engine,
    *,
    exposures: str | None = None,
    events: str | None = None,
) -> dict[str, Any] | None:
    """Analyze an iteration: from files when given, else from the store's exposures and events.

    Returns the analysis JSON document, or ``None`` when there is no data.

    Example:
        >>> analyze_iteration.__name__
        'analyze_iteration'
    """
    result: AnalysisResult
    if exposures is not None or events is not None:
        if exposures is None or events is None:
            raise LifecycleError("inputs: expected both --exposures and --events")
        result = analyze(ran, exposures=exposures, events=events)
        return result.to_dict()
    frames = store_event_log(engine, ran.key, ran.iteration)
    if frames is None:
        return None
    return analyze(ran, exposures=frames[0], events=frames[1]).to_dict()


def store_event_log(
    engine: Engine, key: str, iteration: int
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The store's exposures of one iteration and the events of their units, or ``None``.

    Read into pandas (``first_seen`` as the exposure ``timestamp``) and analysed in
    DuckDB, which is much faster than aggregating inside SQLite.

    Example:
        >>> store_event_log.__name__
        'store_event_log'
    """
    if _store_exposures(engine, key, iteration) == 0:
        return None
    x, e = EXPOSURES_TABLE, EVENTS_TABLE
    mine = sa.and_(x.c.experiment == key, x.c.iteration == iteration)
    xq = sa.select(
        x.c.unit_id, x.c.segment, x.c.stage, x.c.variant, x.c.first_seen.label("timestamp")
    ).where(mine)
    units = sa.select(x.c.unit_id).where(mine)
    eq = sa.select(e.c.unit_id, e.c.event, e.c.value, e.c.timestamp).where(e.c.unit_id.in_(units))
    with engine.connect() as conn:
        exposures = pd.read_sql(xq, conn)
        events = pd.read_sql(eq, conn)
    for frame in (exposures, events):
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return exposures, events


def _analysis_doc(
    ran: Experiment, engine: Engine, exposures: str | None, events: str | None
) -> tuple[dict[str, Any], int | None]:
    """A fresh analysis of the iteration (id ``None``), else its latest saved one and its id."""
    doc = analyze_iteration(ran, engine, exposures=exposures, events=events)
    if doc is not None:
        return doc, None
    saved = list_snapshots(engine, ran.key, ran.iteration)
    if saved:
        return dict(saved[-1].result), saved[-1].id
    raise LifecycleError(
        f"{ran.key!r} iteration {ran.iteration}: no data to conclude on: expected "
        "--exposures F --events F, exposures logged in the store, or a saved analysis"
    )


def _snapshot(
    ran: Experiment,
    record: ExperimentRecord,
    engine: Engine,
    exposures: str | None,
    events: str | None,
) -> tuple[dict[str, Any], int | None]:
    doc, sid = _analysis_doc(ran, engine, exposures, events)
    if sid is None:
        sid = save_snapshot(
            engine, ran.key, ran.iteration, doc, config_fingerprint=record.config_fingerprint
        )
    return doc, sid


def conclude_experiment(
    key: str,
    experiments: str | Path,
    engine: Engine,
    *,
    exposures: str | None = None,
    events: str | None = None,
) -> tuple[ExperimentRecord, int | None]:
    """Conclude the current iteration, saving its analysis snapshot; return it and the id.

    Example:
        >>> conclude_experiment.__name__
        'conclude_experiment'
    """
    record = _current(key, engine, ("running", "stopped", "draft"))
    ran = recorded_experiment(record)
    _, sid = _snapshot(ran, record, engine, exposures, events)
    set_status(engine, key, record.iteration, "concluded")
    exp = load_config(key, experiments)
    if exp.iteration == record.iteration:
        _write_status(exp, "concluded")
    return record, sid


@dataclass(frozen=True)
class IterateResult:
    """What ``iterate`` did: iterations, snapshot, files written, each cell's outcome.

    Example:
        >>> IterateResult("e", 1, 2, 7, "e.yaml", "history/e.i1.yaml", ()).new_iteration
        2
    """

    key: str
    old_iteration: int
    new_iteration: int
    snapshot_id: int | None
    config_path: str
    history_path: str
    outcomes: tuple[CellOutcome, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict.

        Example:
            >>> IterateResult("e", 1, 2, None, "a", "b", ()).to_dict()["outcomes"]
            []
        """
        return {
            "key": self.key,
            "old_iteration": self.old_iteration,
            "new_iteration": self.new_iteration,
            "snapshot_id": self.snapshot_id,
            "config_path": self.config_path,
            "history_path": self.history_path,
            "outcomes": [o.to_dict() for o in self.outcomes],
        }


def _raw_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, Mapping):
        raise LifecycleError(f"{path}: expected a mapping of experiment fields")
    return dict(data)


def iterate_experiment(
    key: str,
    experiments: str | Path,
    engine: Engine,
    *,
    exposures: str | None = None,
    events: str | None = None,
    confirm: bool = False,
) -> IterateResult:
    """Conclude the current iteration and write the next one's config (see module docs).

    The old file is kept as ``history/KEY.iN.yaml`` next to the config (and its
    config in the store); the new config replaces the file, validated before it is
    written, and is registered as a ``draft``. Bandit cells that graduated in
    ``segab allocate`` ship their leading arm, or with ``confirm`` start a
    fixed-split test of it against the control (:mod:`segab.lifecycle.graduation`).

    Example:
        >>> iterate_experiment.__name__
        'iterate_experiment'
    """
    record = _current(key, engine, ("running", "stopped", "concluded"))
    exp = load_config(key, experiments)
    if exp.iteration != record.iteration:
        raise LifecycleError(
            f"{exp.source}: iteration {exp.iteration} found, expected the store's current "
            f"iteration {record.iteration} of {key!r}"
        )
    check_running_edit(exp, engine)
    ran = recorded_experiment(record)
    doc, _ = _analysis_doc(ran, engine, exposures, events)
    path = Path(exp.source)
    text = path.read_text(encoding="utf-8")
    raw = _raw_yaml(path)
    rows = primary_rows(doc, ran.metrics.primary.key)
    graduated = graduated_cells(allocation_periods(engine, key, ran.iteration))
    rows = graduated_rows(rows, graduated, cell_arms(ran), confirm=confirm)
    new_raw, outcomes = next_config(raw, ran, rows)
    new_raw, outcomes = bandit_config(new_raw, ran, outcomes, graduated, confirm=confirm)
    won = [o.to_dict() for o in outcomes if o.status in ("shipped", "graduated")]
    doc = {**doc, "shipped": won}  # each winner's selection-adjusted estimate, for the history
    sid = save_snapshot(
        engine, ran.key, ran.iteration, doc, config_fingerprint=record.config_fingerprint
    )
    header = (
        f"# Iteration {new_raw['iteration']} of {key}, written by `segab iterate` from the "
        f"decisions of iteration {ran.iteration}\n# (kept in {HISTORY_DIR}/{key}.i"
        f"{ran.iteration}.yaml and in the store).\n"
    )
    body = yaml.safe_dump(new_raw, sort_keys=False, allow_unicode=True, width=100)
    tmp = path.with_name(f".{path.name}.next")
    tmp.write_text(header + body, encoding="utf-8")
    try:
        new_exp = load_experiment(tmp)
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    history = path.parent / HISTORY_DIR / f"{key}.i{ran.iteration}.yaml"
    history.parent.mkdir(parents=True, exist_ok=True)
    history.write_text(set_status_text(text, "concluded"), encoding="utf-8")
    set_status(engine, key, record.iteration, "concluded")
    tmp.replace(path)
    register_experiment(engine, key, new_exp.iteration, "draft", new_exp.model_dump(mode="json"))
    close_bandit_phase(engine, ran, outcomes, graduated)
    return IterateResult(
        key, ran.iteration, new_exp.iteration, sid, str(path), str(history), tuple(outcomes)
    )


def file_matches_store(exp: Experiment, record: ExperimentRecord) -> bool:
    """Whether the file's config equals the stored one (ignoring the status).

    Example:
        >>> file_matches_store.__name__
        'file_matches_store'
    """
    stored = recorded_experiment(record).model_copy(update={"status": exp.status})
    return fingerprint(stored) == fingerprint(exp)
