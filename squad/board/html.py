"""The leaderboard as one self-contained HTML page (figures embedded as PNG).

The page draws, where the runs have them: the ranked table (with its ``check``
column, and a "Flagged runs" list of runs whose recorded metrics disagree with their
predictions; see :mod:`squad.board.leaderboard`), the automation curves
of the best runs (a metric ``automation_curve`` holding ``automation_rate`` and
``accuracy`` lists, e.g. ``squad.record("automation_curve",
squad.evaluation.metrics.automation_curve(...))``), their accuracy by hierarchy level
(``accuracy_level_<l>`` metrics, as made by ``squad.evaluation.metrics.coding_report``), the chosen
metric against each parameter that varies, and the figures of the best run. Curves are
drawn with :mod:`squad.evaluation.plots`.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from squad._atomic import atomic_write_text
from squad.board.leaderboard import (
    _LEVEL,
    CHECK_COLUMN,
    _cell,
    _for_display,
    _is_number,
    _member,
    _varying,
    describe_flag,
    flat_metrics,
    leaderboard_table,
    lower_is_better,
)

__all__ = ["write_html"]

logger = logging.getLogger("squad")


def _label(rec: Mapping[str, Any], params: list[str]) -> str:
    parts = [f"{n}={_cell(rec['parameters'].get(n))}" for n in params]
    member = _member(rec)
    text = ", ".join(parts) or f"run {rec['run_id']}"
    return f"{text} ({member})" if member else text


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="figure" src="data:image/png;base64,{data}">'


def _curve_frame(value: Any) -> pd.DataFrame | None:
    if not isinstance(value, Mapping):
        return None
    try:
        frame = pd.DataFrame(dict(value))
    except ValueError:
        return None
    if not {"automation_rate", "accuracy"} <= set(frame.columns) or frame.empty:
        return None
    return frame.astype({"automation_rate": float, "accuracy": float})


def _automation_figure(curves: dict[str, pd.DataFrame]) -> Any:
    try:
        from squad.evaluation.plots import plot_automation_curve

        return plot_automation_curve(curves)
    except (ImportError, ValueError, KeyError) as err:
        logger.info("Drawing automation curves without squad.evaluation.plots: %s", err)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    for name, frame in curves.items():
        ax.plot(frame["automation_rate"], frame["accuracy"], label=name)
    ax.set_xlabel("Automation rate")
    ax.set_ylabel("Accuracy of automatically coded records")
    ax.legend(loc="lower left", fontsize="small")
    return fig


def _hierarchy_figure(levels: dict[str, dict[str, float]]) -> Any:
    try:
        from squad.evaluation.plots import plot_hierarchical_accuracy

        return plot_hierarchical_accuracy(levels)
    except (ImportError, ValueError, KeyError) as err:
        logger.info(
            "Drawing hierarchy accuracy without squad.evaluation.plots: %s", err
        )
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.5), layout="constrained")
    ax = fig.add_subplot()
    for name, values in levels.items():
        pairs = sorted((int(k.rsplit("_", 1)[1]), v) for k, v in values.items())
        ax.plot([p[0] for p in pairs], [p[1] for p in pairs], marker="o", label=name)
    ax.set_xlabel("Hierarchy level")
    ax.set_ylabel("Accuracy")
    ax.legend(loc="lower left", fontsize="small")
    return fig


def _parameter_figure(table: pd.DataFrame, metric: str, params: list[str]) -> Any:
    from matplotlib.figure import Figure

    ranked = table[table["rank"].notna()]
    fig = Figure(figsize=(4 * len(params), 3.2), layout="constrained")
    axes = fig.subplots(1, len(params), squeeze=False)[0]
    for ax, name in zip(axes, params, strict=True):
        values = ranked[name]
        y = ranked[metric].astype(float)
        numeric = all(_is_number(v) for v in values)
        if numeric:
            ax.scatter(values.astype(float), y)
        else:
            cats = sorted({str(v) for v in values})
            x = [cats.index(str(v)) for v in values]
            ax.scatter(x, y)
            ax.set_xticks(range(len(cats)), cats, rotation=30, ha="right")
        ax.set_xlabel(name)
        ax.set_ylabel(metric)
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"{metric} against each parameter that varies")
    return fig


def _section(title: str, body: str) -> str:
    return f"<h2>{html.escape(title)}</h2>\n{body}\n"


def write_html(
    path: str | os.PathLike[str],
    html_path: str | os.PathLike[str],
    metric: str | None = None,
    *,
    top: int = 5,
    where: Mapping[str, Any] | None = None,
) -> Path:
    """Write the leaderboard as one self-contained HTML page (figures embedded).

    Parameters
    ----------
    path : path-like
        Folder of run folders.
    html_path : path-like
        The page to write (atomically).
    metric : str, optional
        Metric to rank by (default ``accuracy``).
    top : int, default=5
        How many of the best runs to overlay in the curve figures.
    where : mapping, optional
        Keep only runs with these parameter values (see :func:`leaderboard_table`).

    Returns
    -------
    pathlib.Path
        ``html_path``.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`leaderboard_table`.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from squad.record import write_record
    >>> runs = pathlib.Path(tempfile.mkdtemp())
    >>> for run_id, acc in [("a1", 0.6), ("b2", 0.7)]:
    ...     _ = write_record(runs / run_id, {"experiment": "demo", "run_id": run_id,
    ...         "parameters": {"C": acc}, "metrics": {"accuracy": acc}, "status": "ok"})
    >>> page = write_html(runs, runs / "board.html").read_text()
    >>> page.count("data:image/png;base64")  # accuracy against C
    1
    """
    table = leaderboard_table(path, metric, include_failed=True, where=where)
    column = table.attrs["metric"]
    records = table.attrs["records"]
    ok = [r for r in records if r.get("status") == "ok"]
    params = _varying(ok or records, fallback=False)
    best = ok[:top]
    shown = _for_display(table)
    parts = [
        _section(
            f"Runs ranked by {column}",
            shown.to_html(
                index=False, float_format=lambda v: f"{v:.4f}", na_rep="-", border=0
            ),
        )
    ]
    flagged = table.attrs.get("flagged") or []
    if flagged:
        items = "\n".join(f"<li>{html.escape(describe_flag(r))}</li>" for r in flagged)
        parts.insert(
            0,
            _section(
                "Flagged runs",
                '<p class="flag">The metrics these runs recorded disagree with the '
                "ones computed from their predictions (or their predictions cannot "
                f"be scored); the table shows the computed ones.</p>\n<ul>{items}</ul>",
            ),
        )
    if CHECK_COLUMN in table:
        parts.append(
            "<p>check: <b>verified</b> = every metric computed from the run's test-set "
            "predictions and the shared labels, and the recorded ones agree; "
            "<b>DISAGREES</b> = computed from predictions, but the recorded metrics "
            "differ; <b>self-reported</b> = no predictions file, metrics as recorded, "
            "not verified.</p>"
        )
    curves = {}
    for rec in best:
        frame = _curve_frame((rec.get("metrics") or {}).get("automation_curve"))
        if frame is not None:
            curves[_label(rec, params)] = frame
    if curves:
        parts.append(_section("Automation curves", _png(_automation_figure(curves))))
    levels = {}
    for rec in best:
        flat = flat_metrics(rec.get("metrics") or {})
        found = {}
        for name, value in flat.items():
            match = _LEVEL.search(name)
            if match:
                found[f"accuracy_level_{match.group(1)}"] = value
        if found:
            levels[_label(rec, params)] = found
    if levels:
        figure = _hierarchy_figure(levels)
        parts.append(_section("Accuracy by hierarchy level", _png(figure)))
    varying = [p for p in params if p in table.columns]
    ranked = table[table["rank"].notna()]
    if varying and len(ranked) > 1:
        figure = _parameter_figure(table, column, varying)
        parts.append(_section("Metric against parameters", _png(figure)))
    if ok and ok[0].get("_dir") is not None:
        best_dir = ok[0]["_dir"]
        images = []
        for name, rel in (ok[0].get("figures") or {}).items():
            file = Path(best_dir) / rel
            if file.is_file():
                data = base64.b64encode(file.read_bytes()).decode("ascii")
                images.append(
                    f"<figure><img alt='{html.escape(name)}' "
                    f"src='data:image/png;base64,{data}'>"
                    f"<figcaption>{html.escape(name)}</figcaption></figure>"
                )
        if images:
            title = f"Figures of the best run ({_label(ok[0], params)})"
            parts.append(_section(title, "\n".join(images)))
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    members = sorted({_member(r) for r in records if _member(r)})
    page = _PAGE.format(
        title=html.escape(
            f"Leaderboard: {Path(path).name}"
            + "".join(f", {k}={_cell(v)}" for k, v in (where or {}).items())
        ),
        subtitle=html.escape(
            f"{len(ok)} ok runs of {len(records)}, ranked by {column}"
            f"{' (lower is better)' if lower_is_better(column) else ''}; members: "
            f"{', '.join(members) or '-'}; made {now}"
        ),
        body="\n".join(parts),
    )
    return atomic_write_text(html_path, page)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ padding: 0.25em 0.6em; border-bottom: 1px solid #ddd; text-align: right; }}
th {{ background: #f3f3f3; }}
img {{ max-width: 100%; }}
figure {{ display: inline-block; margin: 0.5em; }}
.flag {{ color: #a00; font-weight: bold; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>{subtitle}</p>
{body}
</body>
</html>
"""
