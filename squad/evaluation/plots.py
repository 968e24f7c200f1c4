"""Figures for the evaluation metrics in :mod:`squad.evaluation.metrics`.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, so no
figure is left open in a global registry and nothing is shown by itself: display it in
a notebook by leaving it as the last expression of a cell, or save it with
``fig.savefig(path)``. Pass ``ax=`` to draw into an existing Axes instead.

Every figure has labelled axes and a title, and tells its series apart by colour (the
colour-blind-safe Okabe-Ito palette), line style and marker. A figure the function makes
itself carries a description of what it shows (``alt_text=``, or one written from the
data): screen readers read it in a notebook, and saved PNG and SVG files keep it (see
:mod:`squad.evaluation._figures`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from squad.errors import InvalidInputError
from squad.evaluation._figures import (
    REFERENCE_STYLE,
    describe,
    figure_and_axes,
    pct,
    series_style,
)
from squad.evaluation._inputs import (
    check_fraction,
    check_labels,
    check_positive_int,
    encode_labels,
)
from squad.evaluation.estimate_plots import (
    plot_domain_estimates,
    plot_imputation_distributions,
)
from squad.evaluation.metrics import (
    automation_curve,
    calibration_report,
    expected_calibration_error,
    hierarchical_accuracy_report,
)

__all__ = [
    "plot_automation_curve",
    "plot_confusion_matrix",
    "plot_domain_estimates",
    "plot_hierarchical_accuracy",
    "plot_imputation_distributions",
    "plot_reliability_diagram",
]


def _is_single(item: Any) -> bool:
    """True for one model's data (DataFrame, Series, tuple of arrays or a report dict)."""
    if isinstance(item, pd.DataFrame | pd.Series | tuple | list):
        return True
    if isinstance(item, Mapping):
        return not all(
            isinstance(v, pd.DataFrame | pd.Series | tuple | list | Mapping)
            for v in item.values()
        )
    msg = (
        f"expected a DataFrame, a Series, a tuple of arrays or a dict of them by model "
        f"name; received {type(item).__name__}."
    )
    raise InvalidInputError(msg)


def _by_model(data: Any, default_name: str) -> dict[str, Any]:
    if _is_single(data):
        return {default_name: data}
    if not data:
        msg = "received an empty dict of models; expected at least one model."
        raise InvalidInputError(msg)
    return dict(data)


def _unpack(item: Any, size: int, what: str) -> tuple[Any, ...]:
    if not isinstance(item, tuple | list) or len(item) != size:
        msg = f"expected {what}; received {type(item).__name__}."
        raise InvalidInputError(msg)
    return tuple(item)


def plot_automation_curve(
    curves: Any,
    *,
    target_accuracy: float | None = 0.95,
    ax: Axes | None = None,
    alt_text: str | None = None,
) -> Figure:
    """Accuracy of automatically coded records against the automation rate.

    Parameters
    ----------
    curves : DataFrame, tuple or dict
        One model's :func:`~squad.evaluation.metrics.automation_curve` DataFrame or
        ``(y_true, y_pred, confidence)`` tuple, or a dict of either by model name
        (the models are overlaid).
    target_accuracy : float or None, default=0.95
        Draws a horizontal target line; each legend entry gives the model's automation
        rate at that accuracy. None draws no line.
    ax : matplotlib Axes, default=None
        Axes to draw into; None makes a new Figure.
    alt_text : str, default=None
        Description of the figure for readers who cannot see it; None writes one from
        the curves.

    Returns
    -------
    matplotlib.figure.Figure
        One line per model, plus the target line.

    Raises
    ------
    ValueError
        On inputs that are not curves or (y_true, y_pred, confidence) tuples, or a
        target outside [0, 1].

    Examples
    --------
    >>> data = (["a", "b", "a", "b"], ["a", "b", "b", "a"], [0.9, 0.8, 0.7, 0.3])
    >>> fig = plot_automation_curve({"model A": data}, target_accuracy=0.9)
    >>> len(fig.axes[0].lines)
    2
    """
    if target_accuracy is not None:
        target_accuracy = check_fraction(target_accuracy, "target_accuracy")
    made_here = ax
    fig, ax = figure_and_axes(ax, (6.0, 4.0))
    told = []
    for index, (name, item) in enumerate(_by_model(curves, "model").items()):
        if isinstance(item, pd.DataFrame):
            curve = item
        else:
            curve = automation_curve(*_unpack(item, 3, "(y_true, y_pred, confidence)"))
        label = str(name)
        accuracy = curve["accuracy"].to_numpy()
        said = (
            f"{name}: accuracy {pct(accuracy[0])} for the most confident records, "
            f"{pct(accuracy[-1])} when every record is coded automatically"
        )
        if target_accuracy is not None:
            ok = curve.loc[
                curve["accuracy"] >= target_accuracy - 1e-12, "automation_rate"
            ]
            rate = float(ok.max()) if len(ok) else 0.0
            label = f"{name} ({rate:.0%} at {target_accuracy:.0%})"
            said += f"; {pct(rate)} of records can be coded at the target accuracy"
        told.append(said)
        x = np.concatenate([[0.0], curve["automation_rate"].to_numpy()])
        y = np.concatenate([accuracy[:1], accuracy])
        style = series_style(index)
        ax.plot(
            x,
            y,
            label=label,
            color=style["color"],
            linestyle=style["linestyle"],
            linewidth=1.8,
        )
    if target_accuracy is not None:
        ax.axhline(
            target_accuracy, **REFERENCE_STYLE, label=f"target {target_accuracy:.0%}"
        )
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("Automation rate (share of records coded automatically)")
    ax.set_ylabel("Accuracy of automatically coded records")
    ax.set_title("Automation curve")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left")
    target = (
        ""
        if target_accuracy is None
        else f" A dotted grey line marks the target accuracy of {pct(target_accuracy)}."
    )
    describe(
        fig,
        made_here,
        alt_text,
        "Automation curve: the accuracy of the automatically coded records (y axis) "
        "against the share of records coded automatically, most confident first "
        f"(x axis).{target} " + ". ".join(told) + ".",
    )
    return fig


def plot_hierarchical_accuracy(
    reports: Any, *, ax: Axes | None = None, alt_text: str | None = None
) -> Figure:
    """Accuracy at each level of the classification hierarchy, one line per model.

    Parameters
    ----------
    reports : DataFrame, Series, dict or tuple, or a dict of them by model name
        A :func:`~squad.evaluation.metrics.hierarchical_accuracy_report` DataFrame, a
        Series of accuracies indexed by level, a
        :func:`~squad.evaluation.metrics.coding_report` dict (its ``accuracy_level_<l>``
        entries) or a ``(y_true, y_pred)`` tuple.
    ax : matplotlib Axes, default=None
        Axes to draw into; None makes a new Figure.
    alt_text : str, default=None
        Description of the figure for readers who cannot see it; None writes one from
        the accuracies.

    Returns
    -------
    matplotlib.figure.Figure
        One line with markers per model; x is the level, y the accuracy.

    Raises
    ------
    ValueError
        On inputs of another form, or a report without hierarchy levels.

    Examples
    --------
    >>> fig = plot_hierarchical_accuracy((["1111", "1112"], ["1111", "1121"]))
    >>> fig.axes[0].lines[0].get_ydata().tolist()
    [1.0, 1.0, 0.5, 0.5]
    """
    made_here = ax
    fig, ax = figure_and_axes(ax, (5.0, 3.5))
    all_levels: set[int] = set()
    told = []
    for index, (name, item) in enumerate(_by_model(reports, "model").items()):
        if isinstance(item, pd.DataFrame):
            levels, acc = item["level"].to_numpy(), item["accuracy"].to_numpy()
        elif isinstance(item, pd.Series):
            levels = np.asarray(item.index, dtype=int)
            acc = item.to_numpy(dtype=float)
        elif isinstance(item, Mapping):
            pairs = sorted(
                (int(k.rsplit("_", 1)[1]), float(v))
                for k, v in item.items()
                if str(k).startswith("accuracy_level_")
            )
            if not pairs:
                msg = (
                    f"report for {name!r} has no accuracy_level_<l> entries; expected a "
                    "coding_report made with levels."
                )
                raise InvalidInputError(msg)
            levels, acc = (
                np.array([p[0] for p in pairs]),
                np.array([p[1] for p in pairs]),
            )
        else:
            table = hierarchical_accuracy_report(*_unpack(item, 2, "(y_true, y_pred)"))
            levels, acc = table["level"].to_numpy(), table["accuracy"].to_numpy()
        ax.plot(levels, acc, label=str(name), **series_style(index))
        all_levels.update(int(v) for v in levels)
        told.append(
            f"{name}: "
            + ", ".join(
                f"{pct(a)} at level {int(lv)}"
                for lv, a in zip(levels, acc, strict=True)
            )
        )
    ax.set_xticks(sorted(all_levels))
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("Hierarchy level (leading characters of the code)")
    ax.set_ylabel("Accuracy")
    ax.set_title("Accuracy by hierarchy level")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left")
    describe(
        fig,
        made_here,
        alt_text,
        "Line chart of accuracy (y axis) at each level of the classification "
        "(x axis, 1 = the broadest group, the last level = the full code). "
        + ". ".join(told)
        + ".",
    )
    return fig


def plot_confusion_matrix(
    y_true: Any,
    y_pred: Any,
    *,
    n_classes: int = 20,
    normalize: str | None = "true",
    ax: Axes | None = None,
    alt_text: str | None = None,
) -> Figure:
    """Confusion matrix restricted to the ``n_classes`` largest true classes.

    Rows are the largest classes by true support; columns are the same classes plus
    ``other`` for predictions outside them.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    n_classes : int, default=20
        Number of classes shown.
    normalize : {"true", None}, default="true"
        "true" shows each row as shares of the class's records; None shows counts.
    ax : matplotlib Axes, default=None
        Axes to draw into; None makes a new Figure.
    alt_text : str, default=None
        Description of the figure for readers who cannot see it; None writes one.

    Returns
    -------
    matplotlib.figure.Figure
        The matrix image with a colour bar (two Axes).

    Raises
    ------
    ValueError
        On bad labels, ``n_classes`` < 1 or an unknown ``normalize``.

    Examples
    --------
    >>> fig = plot_confusion_matrix(["a", "a", "b", "c"], ["a", "c", "b", "a"],
    ...                             n_classes=2)
    >>> fig.axes[0].images[0].get_array().shape
    (2, 3)
    """
    n_classes = check_positive_int(n_classes, "n_classes")
    if normalize not in ("true", None):
        msg = f"normalize must be 'true' or None; received {normalize!r}."
        raise InvalidInputError(msg)
    yt, yp = check_labels(y_true, y_pred)
    (t, p), uniques = encode_labels({"y_true": yt, "y_pred": yp})
    support = np.bincount(t, minlength=len(uniques))
    labels_str = np.array([str(u) for u in uniques])
    order = np.lexsort((labels_str, -support))
    top = order[support[order] > 0][:n_classes]
    position = np.full(len(uniques), len(top), dtype=np.int64)
    position[top] = np.arange(len(top))
    keep = position[t] < len(top)
    rows, cols = position[t[keep]], position[p[keep]]
    has_other = bool((cols == len(top)).any())
    width = len(top) + int(has_other)
    matrix = np.bincount(rows * width + cols, minlength=len(top) * width).reshape(
        len(top), width
    )
    values = matrix / matrix.sum(axis=1, keepdims=True) if normalize else matrix
    size = max(4.0, 0.35 * width + 2.0)
    made_here = ax
    fig, ax = figure_and_axes(ax, (size + 1.0, size))
    image = ax.imshow(values, cmap="Blues", vmin=0, aspect="auto")
    fig.colorbar(
        image, ax=ax, label="share of the true class" if normalize else "records"
    )
    col_labels = [*labels_str[top], *(["other"] if has_other else [])]
    ax.set_xticks(np.arange(width), col_labels, rotation=90)
    ax.set_yticks(np.arange(len(top)), labels_str[top])
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    ax.set_title(f"Confusion matrix, {len(top)} largest classes")
    right = np.diag(matrix[:, : len(top)]).sum() / max(matrix.sum(), 1)
    describe(
        fig,
        made_here,
        alt_text,
        f"Confusion matrix of the {len(top)} largest true classes (rows) against the "
        f"predicted class (columns); darker cells hold more records. {pct(right)} of "
        "these records lie on the diagonal (predicted right).",
    )
    return fig


def plot_reliability_diagram(
    y_true: Any,
    y_pred: Any,
    confidence: Any,
    *,
    n_bins: int = 15,
    ax: Axes | None = None,
    alt_text: str | None = None,
) -> Figure:
    """Accuracy against confidence in equal-width bins, with the diagonal.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    confidence : array-like of shape (n_samples,), or a dict of them by name
        Confidence of each prediction in [0, 1]. A dict (for example ``{"before": ...,
        "after": ...}`` around a recalibration) draws one line per entry instead of bars.
    n_bins : int, default=15
        Number of bins (as in :func:`~squad.evaluation.metrics.expected_calibration_error`).
    ax : matplotlib Axes, default=None
        Axes to draw into; None makes a new Figure.
    alt_text : str, default=None
        Description of the figure for readers who cannot see it; None writes one from
        the bins.

    Returns
    -------
    matplotlib.figure.Figure
        One bar per non-empty bin (or one line with markers per entry of a dict), the
        diagonal of perfect calibration as a dotted line, and the ECE in the title (or
        in each legend entry).

    Raises
    ------
    ValueError
        On bad labels, confidences outside [0, 1], an empty dict or ``n_bins`` < 1.

    Examples
    --------
    >>> fig = plot_reliability_diagram(["a", "b", "a"], ["a", "b", "b"], [0.9, 0.8, 0.4],
    ...                                n_bins=5)
    >>> len(fig.axes[0].patches), len(fig.axes[0].lines)
    (3, 1)
    >>> fig = plot_reliability_diagram(["a", "b"], ["a", "a"],
    ...                                {"before": [0.9, 0.9], "after": [0.5, 0.5]})
    >>> [line.get_label() for line in fig.axes[0].lines][:2]
    ['before (ECE 0.400)', 'after (ECE 0.000)']
    """
    several = isinstance(confidence, Mapping)
    if several and not confidence:
        msg = "received an empty dict of confidences; expected at least one entry."
        raise InvalidInputError(msg)
    series = dict(confidence) if several else {"model": confidence}
    made_here = ax
    fig, ax = figure_and_axes(ax, (4.5, 4.5))
    told = []
    for index, (name, values) in enumerate(series.items()):
        table = calibration_report(y_true, y_pred, values, n_bins=n_bins)
        ece = expected_calibration_error(y_true, y_pred, values, n_bins=n_bins)
        filled = table[table["n"] > 0]
        above = int((filled["accuracy"] > filled["mean_confidence"]).sum())
        below = int((filled["accuracy"] < filled["mean_confidence"]).sum())
        told.append(
            f"{name}: ECE {ece:.3f}; of {len(filled)} non-empty bins, {above} have an "
            f"accuracy above the confidence (under-confident) and {below} below it "
            "(over-confident)"
        )
        if several:
            ax.plot(
                filled["mean_confidence"],
                filled["accuracy"],
                label=f"{name} (ECE {ece:.3f})",
                **series_style(index),
            )
            continue
        ax.bar(
            filled["bin_lower"],
            filled["accuracy"],
            width=filled["bin_upper"] - filled["bin_lower"],
            align="edge",
            color=series_style(0)["color"],
            edgecolor="white",
            label="accuracy in bin",
        )
        title = f"Reliability diagram (ECE {ece:.3f})"
    ax.plot([0, 1], [0, 1], **REFERENCE_STYLE, label="perfect calibration")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("Confidence")
    ax.set_ylabel("Accuracy")
    ax.set_title(title if not several else "Reliability diagram")
    ax.legend(loc="upper left")
    if not several:
        told[0] = told[0].split(": ", 1)[1]
    describe(
        fig,
        made_here,
        alt_text,
        f"Reliability diagram: accuracy (y axis) against confidence (x axis) in "
        f"{n_bins} bins of equal width; the dotted diagonal is perfect calibration, "
        "where a confidence of 0.8 means right 8 times in 10. "
        + ". ".join(t[0].upper() + t[1:] for t in told)
        + ".",
    )
    return fig
