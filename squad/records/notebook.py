"""Record metrics and figures from inside a notebook.

Inside a notebook, ``squad.record(name, value)`` keeps a result of the run:

>>> import squad
>>> squad.record("accuracy", 0.91)  # doctest: +SKIP

Outside a sweep this only displays the value. When ``squad run`` executes the notebook,
the kernel finds its run folder in the ``SQUAD_RUN_DIR`` environment variable and every
call appends one JSON line to ``metrics.jsonl`` there (figures are saved as PNG files
under ``figures/``). Appending one line is safe if the kernel dies half-way: the runner
skips a truncated last line. When the run ends, the runner merges those lines into the
run's ``record.json``.

The run folder ``runs/<experiment>/<run_id>/`` holds:

- the executed notebook (``<notebook name>.ipynb``);
- ``metrics.jsonl``: one line per ``record`` call, ``{"kind": "metric", "name": ...,
  "value": ...}`` or ``{"kind": "figure", "name": ..., "path": "figures/<name>.png"}``;
- ``figures/<name>.png``;
- any other file the notebook writes into ``SQUAD_RUN_DIR`` (for example
  ``predictions.parquet``); all are listed in the record's ``files``;
- ``record.json``, written last and atomically: a
  :class:`~squad.records.run_record.RunRecord`, whose docstring lists its keys.

A value recorded under the name ``dataset`` (a dict such as ``{"name": "soc2010",
"sha256": ..., "protocol": "stratified"}``) describes the data the notebook used: the
runner moves it into ``provenance["dataset"]`` instead of the metrics.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import math
import os
import pprint
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from squad._atomic import atomic_write_bytes
from squad.errors import InvalidInputError
from squad.records.schema import FIGURES_DIR, METRICS_FILE, NAME_PATTERN, RUN_DIR_ENV

__all__ = [
    "current_run_dir",
    "read_metrics_log",
    "record",
    "to_json_value",
]

logger = logging.getLogger("squad")

_NAME = re.compile(NAME_PATTERN)


def current_run_dir() -> Path | None:
    """Return the run folder of the sweep this kernel runs in, or None outside a sweep.

    Returns
    -------
    pathlib.Path or None
        The folder named by the ``SQUAD_RUN_DIR`` environment variable, if set.

    Examples
    --------
    >>> import os
    >>> os.environ.pop("SQUAD_RUN_DIR", None) and None
    >>> current_run_dir() is None
    True
    """
    value = os.environ.get(RUN_DIR_ENV)
    return Path(value) if value else None


def _is_figure(value: Any) -> bool:
    figure_module = sys.modules.get("matplotlib.figure")
    return figure_module is not None and isinstance(value, figure_module.Figure)


def _as_figure(value: Any) -> Any | None:
    """Return the matplotlib Figure behind ``value`` (a Figure or Axes), else None."""
    if _is_figure(value):
        return value
    axes_module = sys.modules.get("matplotlib.axes")
    if axes_module is not None and isinstance(value, axes_module.Axes):
        return value.get_figure()
    return None


def to_json_value(value: Any, *, name: str = "value") -> Any:
    """Convert ``value`` to plain JSON data (numbers, strings, lists, dicts, None).

    NumPy scalars and arrays, pandas Series and DataFrames (as a dict of column lists)
    and tuples are converted; NaN and infinities become None, since JSON has no such
    numbers.

    Parameters
    ----------
    value : object
        The value to convert.
    name : str, default="value"
        Used in the error message.

    Returns
    -------
    object
        JSON-ready data.

    Raises
    ------
    ValueError
        If ``value`` (or something inside it) has another type.

    Examples
    --------
    >>> to_json_value({"a": (1, 2.5), "b": float("nan")})
    {'a': [1, 2.5], 'b': None}
    >>> import numpy as np
    >>> to_json_value(np.array([1, 2]))
    [1, 2]
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {
            str(k): to_json_value(v, name=f"{name}[{k!r}]") for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [to_json_value(v, name=f"{name}[{i}]") for i, v in enumerate(value)]
    module = type(value).__module__.split(".")[0]
    if module == "numpy" and hasattr(value, "tolist"):
        return to_json_value(value.tolist(), name=name)
    if module == "pandas":
        if hasattr(value, "columns"):
            return to_json_value(value.to_dict(orient="list"), name=name)
        if hasattr(value, "to_dict"):
            return to_json_value(value.to_dict(), name=name)
    msg = (
        f"Cannot record {name} of type {type(value).__name__}: record a number, "
        "string, list, dict (or a NumPy/pandas value of those) or a matplotlib Figure."
    )
    raise InvalidInputError(msg)


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        msg = (
            f"Record name {name!r} is not valid: use 1-100 letters, digits, '_', '.' "
            "or '-', starting with a letter, digit or '_' (e.g. 'accuracy')."
        )
        raise InvalidInputError(msg)
    return name


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _append_line(run_dir: Path, entry: dict[str, Any]) -> None:
    line = json.dumps(entry, ensure_ascii=False, allow_nan=False, sort_keys=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / METRICS_FILE, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _png_bytes(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def _display(name: str, value: Any, figure: Any | None) -> None:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        if figure is None:
            logger.info("record %s = %r", name, value)
        return
    from IPython.display import display

    if figure is not None:
        from IPython.display import Image

        display(Image(data=_png_bytes(figure), format="png"))
        return
    text = pprint.pformat(value, compact=True, width=88, sort_dicts=False)
    display({"text/plain": f"{name}: {text}"}, raw=True)


def record(name: str, value: Any) -> None:
    """Record a metric or a figure of the current run.

    Parameters
    ----------
    name : str
        Name of the result, e.g. ``"accuracy"``; 1-100 letters, digits, ``_``, ``.``
        or ``-``. Recording a name again replaces its value. The name ``"dataset"``
        is reserved for a dict describing the data used (see the module docstring).
    value : number, str, list, dict, NumPy/pandas value, or matplotlib Figure
        The result. A Figure (or Axes) is saved as ``figures/<name>.png``; other values
        must convert to JSON (see :func:`to_json_value`).

    Raises
    ------
    ValueError
        On a bad name or a value that cannot be recorded.
    OSError
        If the run folder cannot be written.

    Notes
    -----
    Outside a sweep (``SQUAD_RUN_DIR`` unset) the value is only displayed: in a
    notebook as output, elsewhere in the ``squad`` log.

    Examples
    --------
    >>> import json, os, pathlib, tempfile
    >>> run_dir = tempfile.mkdtemp()
    >>> os.environ["SQUAD_RUN_DIR"] = run_dir
    >>> record("accuracy", 0.875)
    >>> record("per_level", {"1": 0.95, "4": 0.875})
    >>> [json.loads(line)["name"] for line in open(pathlib.Path(run_dir, "metrics.jsonl"))]
    ['accuracy', 'per_level']
    >>> del os.environ["SQUAD_RUN_DIR"]
    """
    name = _check_name(name)
    figure = _as_figure(value)
    run_dir = current_run_dir()
    if figure is not None:
        if run_dir is not None:
            rel = f"{FIGURES_DIR}/{name}.png"
            atomic_write_bytes(run_dir / rel, _png_bytes(figure))
            _append_line(
                run_dir, {"kind": "figure", "name": name, "path": rel, "time": _now()}
            )
        _display(name, None, figure)
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            pyplot.close(
                figure
            )  # shown once here; the inline backend must not repeat it
        return
    data = to_json_value(value, name=repr(name))
    if run_dir is not None:
        _append_line(
            run_dir, {"kind": "metric", "name": name, "value": data, "time": _now()}
        )
    _display(name, data, None)


def read_metrics_log(run_dir: str | os.PathLike[str]) -> tuple[dict, dict]:
    """Merge a run folder's ``metrics.jsonl`` into metrics and figures.

    A line that does not parse (a kernel killed while writing) is skipped with a
    warning; for a name recorded twice the last value wins.

    Parameters
    ----------
    run_dir : path-like
        The run folder.

    Returns
    -------
    metrics : dict
        Name → JSON value.
    figures : dict
        Name → path of the PNG relative to the run folder.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "metrics.jsonl").write_text(
    ...     '{"kind": "metric", "name": "a", "value": 1}\\n{"kind": "metric", "na')
    >>> read_metrics_log(d)
    ({'a': 1}, {})
    """
    path = Path(run_dir) / METRICS_FILE
    metrics: dict[str, Any] = {}
    figures: dict[str, str] = {}
    if not path.exists():
        return metrics, figures
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            kind, name = entry["kind"], entry["name"]
        except (ValueError, KeyError, TypeError):
            logger.warning("Skipping unreadable line %s of %s", number, path)
            continue
        if kind == "metric":
            metrics[name] = entry.get("value")
        elif kind == "figure":
            figures[name] = entry.get("path")
        else:
            logger.warning(
                "Skipping line %s of %s: unknown kind %r", number, path, kind
            )
    return metrics, figures
