"""The board's figures of one task, drawn from its runs' metrics, as PNG bytes.

- automation curves of the best runs overlaid (a metric ``automation_curve`` holding
  ``automation_rate`` and ``accuracy`` lists, as scoring computes it);
- accuracy by hierarchy level (``accuracy_level_<l>`` metrics, e.g. soc2010);
- the ranking metric against each parameter that varies.

Curves are drawn with :mod:`squad.evaluation.plots`. Labels come from records and are
only ever drawn as text (matplotlib's mathtext is turned off for them).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from squad.board.leaderboard import LEVEL_METRIC, flat_metrics, is_number, table_cell
from squad.board.run import BoardRun
from squad.board.safety import one_line

__all__ = [
    "MAX_PANELS",
    "automation_png",
    "hierarchy_png",
    "parameters_png",
    "run_label",
]

logger = logging.getLogger("squad")


def run_label(run: BoardRun, params: list[str]) -> str:
    """``name=value, ... (member)`` for a run, or ``run <id>`` without parameters."""
    parts = [f"{n}={table_cell(run.record.parameters.get(n))}" for n in params]
    member = run.member
    text = ", ".join(parts) or f"run {run.run_id}"
    return one_line(f"{text} ({member})" if member else text, 200)


def _plain(text: str) -> str:
    """Text matplotlib draws as it is: no mathtext (``$``), no control or invisible
    character (shown as a visible escape), at most 80 characters."""
    return one_line(text, 80).replace("$", r"\$")


def png_bytes(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def _curve_frame(value: Any) -> pd.DataFrame | None:
    if not isinstance(value, Mapping):
        return None
    try:
        frame = pd.DataFrame(
            {k: value[k] for k in ("automation_rate", "accuracy") if k in value}
        )
        frame = frame.astype(float)
    except (ValueError, TypeError):
        return None
    if not {"automation_rate", "accuracy"} <= set(frame.columns) or frame.empty:
        return None
    return frame


def automation_png(records: list[BoardRun], params: list[str]) -> bytes | None:
    """Automation curves of ``records`` overlaid, or None if none has a curve."""
    curves = {}
    for rec in records:
        frame = _curve_frame(rec.metrics.get("automation_curve"))
        if frame is not None:
            curves[_plain(run_label(rec, params))] = frame
    if not curves:
        return None
    try:
        from squad.evaluation.plots import plot_automation_curve

        return png_bytes(plot_automation_curve(curves))
    except (ValueError, KeyError) as err:
        logger.info(
            "Drawing automation curves without squad.evaluation.plots: %s",
            one_line(err),
        )
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    for name, frame in curves.items():
        ax.plot(frame["automation_rate"], frame["accuracy"], label=name)
    ax.set_xlabel("Automation rate")
    ax.set_ylabel("Accuracy of automatically coded records")
    ax.legend(loc="lower left", fontsize="small")
    return png_bytes(fig)


def hierarchy_png(records: list[BoardRun], params: list[str]) -> bytes | None:
    """Accuracy by hierarchy level of ``records``, or None if none has levels."""
    levels = {}
    for rec in records:
        found = {}
        for name, value in flat_metrics(rec.metrics).items():
            match = LEVEL_METRIC.search(name)
            if match:
                found[f"accuracy_level_{match.group(1)}"] = value
        if found:
            levels[_plain(run_label(rec, params))] = found
    if not levels:
        return None
    try:
        from squad.evaluation.plots import plot_hierarchical_accuracy

        return png_bytes(plot_hierarchical_accuracy(levels))
    except (ValueError, KeyError) as err:
        logger.info(
            "Drawing hierarchy accuracy without squad.evaluation.plots: %s",
            one_line(err),
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
    return png_bytes(fig)


#: Most panels of the metric-against-parameters figure (four to a row).
MAX_PANELS = 20
#: Most values of a text parameter named on a panel's axis.
MAX_TICKS = 30


def parameters_png(table: pd.DataFrame, metric: str, params: list[str]) -> bytes | None:
    """The metric against each varying parameter, one panel each (None if < 2 runs).

    At most :data:`MAX_PANELS` panels, four to a row.
    """
    ranked = table[table["rank"].notna()]
    params = [p for p in params if p in table.columns]
    if not params or len(ranked) < 2:
        return None
    from matplotlib.figure import Figure

    params = params[:MAX_PANELS]
    ncols = min(len(params), 4)
    nrows = -(-len(params) // ncols)
    fig = Figure(figsize=(4 * ncols, 3.2 * nrows), layout="constrained")
    grid = fig.subplots(nrows, ncols, squeeze=False)
    axes = [ax for row in grid for ax in row]
    for ax in axes[len(params) :]:
        ax.set_visible(False)
    for ax, name in zip(axes, params, strict=False):
        values = ranked[name]
        y = ranked[metric].astype(float)
        if all(is_number(v) for v in values):
            ax.scatter(values.astype(float), y)
        else:
            cats = sorted({str(v) for v in values})
            x = [cats.index(str(v)) for v in values]
            ax.scatter(x, y)
            if len(cats) <= MAX_TICKS:
                ax.set_xticks(range(len(cats)), [_plain(c) for c in cats], rotation=30)
                for label in ax.get_xticklabels():
                    label.set_horizontalalignment("right")
            else:  # too many values to name: one position each, unlabelled
                ax.set_xticks([])
        ax.set_xlabel(_plain(name))
        ax.set_ylabel(metric)
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"{metric} against each parameter that varies")
    return png_bytes(fig)
