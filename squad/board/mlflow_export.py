"""Copy run records to MLflow (the optional extra ``squad[mlflow]``).

``squad leaderboard PATH --to-mlflow`` logs every record below PATH that the board
accepts to the tracking server named by ``MLFLOW_TRACKING_URI`` (for instance
``sqlite:///mlflow.db``): one MLflow run per record, in the experiment of the same name.

Names from records become MLflow keys only in a form MLflow accepts: letters, digits and
``_ - . space /``, no empty, ``.`` or ``..`` part, at most 250 characters
(:func:`mlflow_key`); a name that had to change gets a short hash of the original, so two
names never become one key (``a<b`` and ``a>b``). A run already exported is found by a
tag holding a hash of its run id and owner, never by a query built from record text.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from squad.board.collect import load_records
from squad.board.leaderboard import flat_metrics, table_cell
from squad.board.run import BoardRun
from squad.board.safety import one_line
from squad.errors import ServiceError
from squad.records import RECORD_FILE, RunRecord

__all__ = ["export_to_mlflow", "mlflow_key"]

logger = logging.getLogger("squad")

#: Largest file logged as an artifact.
ARTIFACT_MAX_BYTES = 50_000_000
_KEY_LIMIT = 250
_BATCH_METRICS = 1000
_BATCH_PARAMS = 100


def mlflow_key(name: Any, used: set[str] | None = None) -> str:
    """A parameter or metric name as a key MLflow accepts, unique within ``used``.

    Parameters
    ----------
    name : object
        The name from the record.
    used : set of str, optional
        Keys already given in the same run; the result is added to it.

    Examples
    --------
    >>> mlflow_key("learning_rate")
    'learning_rate'
    >>> mlflow_key("../../evil")  # doctest: +ELLIPSIS
    'evil_...'
    >>> used = set()
    >>> mlflow_key("a<b", used) != mlflow_key("a>b", used)
    True
    """
    text = str(name)
    safe = re.sub(r"[^A-Za-z0-9_\-. /]", "_", text)
    parts = [p for p in safe.split("/") if p.strip(" ") not in ("", ".", "..")]
    key = "/".join(parts)[:200] or "_"
    if key != text or (used is not None and key in used):
        digest = hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()
        key = f"{key}_{digest[:10]}"
    if used is not None:
        used.add(key)
    return key[:_KEY_LIMIT]


def _artifact(folder: Path, rel: Any, run: BoardRun) -> Path | None:
    """A file of the run to log, if it is inside the folder and what the record says."""
    from squad._atomic import file_sha256
    from squad.board.intake import RunProblem, resolve_inside

    try:
        path = resolve_inside(folder, rel, "artifact")
    except RunProblem:
        return None
    if not path.is_file() or path.stat().st_size > ARTIFACT_MAX_BYTES:
        return None
    entry = run.record.files.get(rel)
    wanted = entry.get("sha256") if isinstance(entry, Mapping) else None
    if wanted is None:
        return None if run.signature is not None else path
    if file_sha256(path) != wanted:
        logger.warning(
            "Not logging %s of run %s: it differs from the sha256 its record gives",
            one_line(rel, 80),
            run.run_id,
        )
        return None
    return path


def export_to_mlflow(
    path: str | os.PathLike[str],
    *,
    tracking_uri: str | None = None,
    signers: Any = None,
) -> int:
    """Log every run record below ``path`` to MLflow (needs ``squad[mlflow]``).

    Each record the board accepts becomes an MLflow run in the experiment of the same
    name, with its parameters, numeric metrics, status, owner and run id as tags, and
    the executed notebook and figures as artifacts (each checked against the sha256 the
    record gives). Runs already exported (same run id and owner) are skipped, so
    exporting again adds only new runs.

    Parameters
    ----------
    path : path-like
        Folder of run folders.
    tracking_uri : str, optional
        Default: the ``MLFLOW_TRACKING_URI`` environment variable, else MLflow's own
        default.
    signers : squad.board.signing.Signers, optional
        The group's signers file: owners are the names it gives the signing keys.

    Returns
    -------
    int
        Number of runs logged.

    Raises
    ------
    OSError
        If MLflow is not installed.
    """
    try:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient
    except ImportError as err:
        msg = "Exporting to MLflow needs `pip install 'squad[mlflow]'`."
        raise ServiceError(msg) from err
    from squad.board.intake import load_runs

    client = MlflowClient(
        tracking_uri=tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    )
    records = (
        load_runs(path, signers=signers).runs
        if signers is not None
        else load_records(path)
    )
    logged = 0
    experiments: dict[str, str] = {}
    for board_run in records:
        rec = board_run.record
        name = rec.experiment
        if name not in experiments:
            found = client.get_experiment_by_name(name)
            experiments[name] = (
                found.experiment_id if found else client.create_experiment(name)
            )
        exp_id = experiments[name]
        owner = "\0".join(board_run.identity.owner)
        key = hashlib.sha256(f"{rec.run_id}\0{owner}".encode()).hexdigest()
        query = f"tags.`squad.key` = '{key}'"
        if client.search_runs([exp_id], filter_string=query, max_results=1):
            continue
        signature = board_run.signature
        tags = {
            "squad.key": key,
            "squad.run_id": rec.run_id,
            "squad.member": board_run.member[:500],
            "squad.status": rec.status,
            "squad.signed_by": signature.fingerprint if signature else "",
            "mlflow.runName": rec.run_id,
        }
        run = client.create_run(exp_id, tags=tags, run_name=rec.run_id)
        run_uuid = run.info.run_id
        stamp = _millis(rec)
        used: set[str] = set()
        params = [
            Param(mlflow_key(k, used), str(table_cell(v))[:6000])
            for k, v in rec.parameters.items()
        ]
        used = set()
        metrics = [
            Metric(mlflow_key(k, used), v, stamp, 0)
            for k, v in flat_metrics(board_run.metrics).items()
            if math.isfinite(v)
        ]
        extra = [RunTag("squad.notebook_sha256", str(rec.notebook_sha256))]
        client.log_batch(run_uuid, params=params[:_BATCH_PARAMS], tags=extra)
        for start in range(_BATCH_PARAMS, len(params), _BATCH_PARAMS):
            client.log_batch(run_uuid, params=params[start : start + _BATCH_PARAMS])
        for start in range(0, len(metrics), _BATCH_METRICS):
            client.log_batch(run_uuid, metrics=metrics[start : start + _BATCH_METRICS])
        folder = board_run.folder
        if folder is not None:
            if rec.notebook:
                notebook = _artifact(folder, rec.notebook, board_run)
                if notebook is not None:
                    client.log_artifact(run_uuid, str(notebook))
            client.log_artifact(run_uuid, str(folder / RECORD_FILE))
            for rel in board_run.figures.values():
                figure = _artifact(folder, rel, board_run)
                if figure is not None:
                    client.log_artifact(run_uuid, str(figure), "figures")
        status = "FINISHED" if rec.status == "ok" else "FAILED"
        client.set_terminated(run_uuid, status=status)
        logged += 1
    return logged


def _millis(rec: RunRecord) -> int:
    end = rec.end
    try:
        return int(dt.datetime.fromisoformat(end).timestamp() * 1000)
    except (ValueError, OverflowError, OSError):
        return int(dt.datetime.now(dt.UTC).timestamp() * 1000)
