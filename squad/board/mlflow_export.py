"""Copy run records to MLflow (the optional extra ``squad[mlflow]``).

``squad leaderboard PATH --to-mlflow`` logs every record below PATH to the tracking
server named by ``MLFLOW_TRACKING_URI`` (for instance ``sqlite:///mlflow.db``): one
MLflow run per record, in the experiment of the same name.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from squad.board.leaderboard import _cell, _end, _member, flat_metrics, load_records
from squad.errors import ServiceError
from squad.record import RECORD_FILE

__all__ = ["export_to_mlflow"]


def _mlflow_key(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", name)[:250]


def export_to_mlflow(
    path: str | os.PathLike[str], *, tracking_uri: str | None = None
) -> int:
    """Log every run record below ``path`` to MLflow (needs ``squad[mlflow]``).

    Each record becomes an MLflow run in the experiment of the same name, with its
    parameters, numeric metrics, status, member and run id as tags, and the executed
    notebook and figures as artifacts. Runs already exported (same run id and member)
    are skipped, so exporting again adds only new runs.

    Parameters
    ----------
    path : path-like
        Folder of run folders.
    tracking_uri : str, optional
        Default: the ``MLFLOW_TRACKING_URI`` environment variable, else MLflow's own
        default.

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
    client = MlflowClient(
        tracking_uri=tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    )
    logged = 0
    experiments: dict[str, str] = {}
    for rec in load_records(path):
        name = rec["experiment"]
        if name not in experiments:
            found = client.get_experiment_by_name(name)
            experiments[name] = (
                found.experiment_id if found else client.create_experiment(name)
            )
        exp_id = experiments[name]
        member = _member(rec)
        query = (
            f"tags.`squad.run_id` = '{rec['run_id']}' and "
            f"tags.`squad.member` = '{member}'"
        )
        if client.search_runs([exp_id], filter_string=query, max_results=1):
            continue
        tags = {
            "squad.run_id": rec["run_id"],
            "squad.member": member,
            "squad.status": rec["status"],
            "mlflow.runName": rec["run_id"],
        }
        run = client.create_run(exp_id, tags=tags, run_name=rec["run_id"])
        run_uuid = run.info.run_id
        stamp = _millis(rec)
        params = [
            Param(_mlflow_key(k), str(_cell(v))[:6000])
            for k, v in rec["parameters"].items()
        ]
        metrics = [
            Metric(_mlflow_key(k), v, stamp, 0)
            for k, v in flat_metrics(rec.get("metrics") or {}).items()
            if math.isfinite(v)
        ]
        extra = [RunTag("squad.notebook_sha256", str(rec.get("notebook_sha256")))]
        client.log_batch(run_uuid, metrics=metrics, params=params, tags=extra)
        folder = rec.get("_dir")
        if folder is not None:
            if rec.get("notebook") and (Path(folder) / rec["notebook"]).is_file():
                client.log_artifact(run_uuid, str(Path(folder) / rec["notebook"]))
            client.log_artifact(run_uuid, str(Path(folder) / RECORD_FILE))
            for rel in (rec.get("figures") or {}).values():
                if (Path(folder) / rel).is_file():
                    client.log_artifact(run_uuid, str(Path(folder) / rel), "figures")
        status = "FINISHED" if rec["status"] == "ok" else "FAILED"
        client.set_terminated(run_uuid, status=status)
        logged += 1
    return logged


def _millis(rec: Mapping[str, Any]) -> int:
    end = _end(rec)
    try:
        return int(dt.datetime.fromisoformat(end).timestamp() * 1000)
    except ValueError:
        return int(dt.datetime.now(dt.UTC).timestamp() * 1000)
