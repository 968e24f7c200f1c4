"""Submit a predictions file made by any tool (R, SAS, Stata, Excel, Python) to the board.

:func:`read_predictions` reads CSV or Parquet as R's ``write.csv`` (quoted strings, a
leading row-name column), Excel (UTF-8 BOM, CRLF, ``;`` separators with decimal
commas) and pandas write them; codes stay strings (``"1115"``, never ``1115.0``).
:func:`submit_predictions` checks and scores the file with :mod:`squad.board.scoring` and
writes a run folder ``<out>/<experiment>/<run_id>/`` that the leaderboard shows next to
the kit's own runs of ``notebooks/coding.ipynb``. See ``docs/submitting.md``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from squad import __version__
from squad._atomic import file_sha256, replace_folder
from squad.errors import InvalidInputError, MissingFileError

__all__ = ["read_predictions", "submit_predictions"]

logger = logging.getLogger("squad")

_ROW_NAME_HEADERS = ("", "Unnamed: 0", "X", "row.names", "rownames")


def _decode(data: bytes, path: Path) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    msg = f"Cannot decode {path} as UTF-8 or Windows-1252; save it as UTF-8 CSV."
    raise InvalidInputError(msg)


def _separator(text: str) -> str:
    first = text.split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(first, delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def read_predictions(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a predictions file (``.csv``, ``.txt`` or ``.parquet``) as written by any tool.

    Every CSV value is read as text, so codes keep their form; numbers with a decimal
    comma are left for :func:`squad.board.predictions.check_predictions` to read. A first column
    without a name (R's and pandas' row names) is dropped.

    Parameters
    ----------
    path : path-like
        The file.

    Returns
    -------
    DataFrame

    Raises
    ------
    squad.errors.MissingFileError
        If the file does not exist.
    squad.errors.InvalidInputError
        If it is empty, not CSV/Parquet, or cannot be decoded.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "p.csv"
    >>> _ = f.write_bytes(b'\\xef\\xbb\\xbfrecord_id;predicted;confidence\\r\\n7;1115;0,5\\r\\n')
    >>> read_predictions(f).to_dict("records")
    [{'record_id': '7', 'predicted': '1115', 'confidence': '0.5'}]
    """
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        msg = f"Predictions file {path} {what}. Check the path and submit again."
        raise MissingFileError(msg)
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as err:
            msg = (
                f"Cannot read {path} as Parquet ({err}); write it with pandas or arrow."
            )
            raise InvalidInputError(msg) from err
        return _drop_row_names(frame)
    if path.suffix.lower() not in (".csv", ".txt", ".tsv"):
        msg = f"Cannot read predictions file {path}: use a .csv or .parquet file."
        raise InvalidInputError(msg)
    text = _decode(path.read_bytes(), path)
    if not text.strip():
        msg = f"Predictions file {path} is empty; write the header and one row per id."
        raise InvalidInputError(msg)
    sep = _separator(text)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
        )
    except (ValueError, pd.errors.ParserError) as err:
        msg = f"Cannot parse {path} as CSV ({' '.join(str(err).split())})."
        raise InvalidInputError(msg) from err
    if sep == ";":  # Excel in comma-decimal locales
        for column in frame.columns:
            if str(column).startswith(("confidence", "proba_")):
                frame[column] = frame[column].str.replace(",", ".", regex=False)
    return _drop_row_names(frame)


def _plain_text(value: Any) -> str:
    """Text without control characters (tabs and newlines kept), stripped."""
    text = str(value)
    return "".join(
        ch if ch in "\t\n" or ch.isprintable() else " " for ch in text
    ).strip()


def _drop_row_names(frame: pd.DataFrame) -> pd.DataFrame:
    if len(frame.columns) and str(frame.columns[0]).strip() in _ROW_NAME_HEADERS:
        frame = frame.iloc[:, 1:]
    return frame


def submit_predictions(
    path: str | os.PathLike[str],
    *,
    dataset: str = "soc2010",
    protocol: str | None = None,
    language: str | None = None,
    member: str,
    model_name: str,
    description: str = "",
    facts: dict[str, str] | None = None,
    out: str | os.PathLike[str] = "runs",
    experiment: str = "coding",
    data_home: Any = None,
    key: Any = None,
) -> Path:
    """Check and score a predictions file and write it as a run folder for the board.

    Parameters
    ----------
    path : path-like
        CSV or Parquet file with ``record_id`` (ecoicop: or ``product_id``),
        ``predicted`` and optionally ``confidence``, ``code_1..5``, ``proba_1..5`` and,
        for ecoicop, ``language``.
    dataset : {"soc2010", "ecoicop"}, default="soc2010"
        The coding dataset predicted.
    protocol : str, default=None
        Split protocol; None the dataset's default.
    language : str, default=None
        ECOICOP language when the file has no ``language`` column (None: ``"pl"``).
    member : str
        Member or organisation submitting.
    model_name : str
        Name of the model, shown in the board's ``model`` column.
    description : str, default=""
        Free text on how the predictions were made; with ``facts`` it is the run's
        method description ("fact sheet") on the board.
    facts : dict of str, optional
        Fact sheet fields, e.g. ``{"features": "word 1-2 grams", "fit time": "3 min",
        "hardware": "laptop, 4 cores", "training data": "train split only"}``.
    out : path-like, default="runs"
        The run goes to ``<out>/<experiment>/<run_id>/``.
    experiment : str, default="coding"
        Joins the kit's runs of ``notebooks/coding.ipynb``.
    data_home : path-like, default=None
        See :func:`squad.get_data_home`.
    key : cryptography Ed25519PrivateKey, optional
        The member's signing key (:func:`squad.board.signing.load_key`): the run is
        signed (``record.json.sig``: the record, which gives the sha256 of both
        predictions files). Without one the run is unsigned, and a board kept with a
        signers file lists it apart, unranked.

    Returns
    -------
    pathlib.Path
        The run folder, holding ``record.json``, ``predictions.parquet``,
        ``predictions.csv`` and, with ``key``, ``record.json.sig``. The run id is derived from the file's content, dataset,
        member and model name: submitting the same thing again replaces the run.

    Raises
    ------
    ValueError
        If the file is not valid (one line naming the problems, see
        :func:`squad.board.predictions.check_predictions`) or a name is empty.
    OSError
        If the file cannot be read or the folder written.
    """
    from squad.board.predictions import check_predictions
    from squad.board.scoring import score_checked_table
    from squad.records import RunRecord, write_record

    path = Path(path)
    for name, value in (("member", member), ("model name", model_name)):
        if not str(value or "").strip():
            msg = f"The {name} is empty; pass --{name.replace(' ', '-')} NAME."
            raise InvalidInputError(msg)
    raw = read_predictions(path)
    checked = check_predictions(
        raw,
        dataset,
        protocol=protocol,
        language=language,
        data_home=data_home,
        source=path.name,
    )
    metrics, _ = score_checked_table(checked, data_home)
    source_sha = file_sha256(path)
    languages = checked.attrs["languages"]
    lang = ",".join(languages) if languages else None
    provenance_dataset = {
        "name": dataset,
        "sha256": checked.attrs["sha256"],
        "protocol": checked.attrs["protocol"],
        "language": lang,
        "n_test": len(checked),
    }
    fact_sheet = {"model": _plain_text(model_name)[:200]}
    for name, value in (facts or {}).items():
        name = " ".join(str(name).split()).lower()
        if not re.fullmatch(r"[a-z0-9 _-]{1,40}", name) or not str(value).strip():
            msg = (
                f"Fact sheet entry {name!r} needs a short name (letters, digits, "
                "spaces) and a value, e.g. --fact 'fit time=3 min'."
            )
            raise InvalidInputError(msg)
        fact_sheet[name.replace(" ", "_")] = _plain_text(value)[:2000]
    if description.strip():
        fact_sheet["description"] = _plain_text(description)[:4000]
    identity = "\n".join(
        [source_sha, dataset, checked.attrs["protocol"], str(lang), member, model_name]
    )
    run_id = "s" + hashlib.sha256(identity.encode()).hexdigest()[:11]
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    files: dict[str, dict[str, Any]] = {}
    record = RunRecord(
        experiment=experiment,
        run_id=run_id,
        parameters={
            "dataset": dataset,
            "protocol": checked.attrs["protocol"],
            "language": lang,
            "model": model_name,
            "description": description,
            "source": "submitted",
        },
        metrics=metrics,
        fact_sheet=fact_sheet,
        files=files,
        status="ok",
        timings={"queued": now, "start": now, "end": now},
        provenance={
            "dataset": provenance_dataset,
            "member": member,
            "submitted_file": {"name": path.name, "sha256": source_sha},
            "squad_version": __version__,
        },
    )
    final = Path(out) / experiment / run_id
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{run_id}.tmp-", dir=final.parent))
    try:
        written = {
            "predictions.parquet": lambda p: checked.to_parquet(p, index=False),
            "predictions.csv": lambda p: checked.to_csv(p, index=False),
        }
        for name, write in written.items():
            write(tmp / name)
            files[name] = {
                "bytes": (tmp / name).stat().st_size,
                "sha256": file_sha256(tmp / name),
            }
        write_record(tmp, record)
        if key is not None:
            from squad.board.signing import sign_run

            sign_run(tmp, key)
        replace_folder(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info(
        "Submitted %s as run %s (accuracy %.4f)", path, run_id, metrics["accuracy"]
    )
    return final
