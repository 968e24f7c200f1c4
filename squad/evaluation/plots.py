"""Figures for the evaluation metrics in :mod:`squad.evaluation.metrics`.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, so no
figure is left open in a global registry and nothing is shown by itself: display it in
a notebook by leaving it as the last expression of a cell, or save it with
``fig.savefig(path)``. Pass ``ax=`` to draw into an existing Axes instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from squad.errors import InvalidInputError
from squad.evaluation._inputs import (
    as_1d,
    as_values,
    check_fraction,
    check_labels,
    check_mask,
    check_positive_int,
    check_same_length,
    encode_labels,
    is_numeric,
    weighted_ks_distance,
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
    "plot_hierarchical_accuracy",
    "plot_imputation_distributions",
    "plot_reliability_diagram",
]


def _figure_and_axes(
    ax: Axes | None, figsize: tuple[float, float]
) -> tuple[Figure, Axes]:
    if ax is None:
        fig = Figure(figsize=figsize, layout="constrained")
        return fig, fig.add_subplot()
    return ax.get_figure(root=True), ax


def _is_single(item: Any) -> bool:
    """True for one model's data (DataFrame, tuple of arrays or a flat report dict)."""
    if isinstance(item, pd.DataFrame | tuple | list):
        return True
    if isinstance(item, Mapping):
        return not all(
            isinstance(v, pd.DataFrame | tuple | list | Mapping) for v in item.values()
        )
    msg = (
        f"expected a DataFrame, a tuple of arrays or a dict of them by model name; "
        f"received {type(item).__name__}."
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
    curves: Any, *, target_accuracy: float | None = 0.95, ax: Axes | None = None
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
    fig, ax = _figure_and_axes(ax, (6.0, 4.0))
    for name, item in _by_model(curves, "model").items():
        if isinstance(item, pd.DataFrame):
            curve = item
        else:
            curve = automation_curve(*_unpack(item, 3, "(y_true, y_pred, confidence)"))
        label = str(name)
        if target_accuracy is not None:
            ok = curve.loc[
                curve["accuracy"] >= target_accuracy - 1e-12, "automation_rate"
            ]
            rate = float(ok.max()) if len(ok) else 0.0
            label = f"{name} ({rate:.0%} at {target_accuracy:.0%})"
        x = np.concatenate([[0.0], curve["automation_rate"].to_numpy()])
        y = np.concatenate(
            [curve["accuracy"].to_numpy()[:1], curve["accuracy"].to_numpy()]
        )
        ax.plot(x, y, label=label)
    if target_accuracy is not None:
        ax.axhline(
            target_accuracy,
            linestyle="--",
            color="0.4",
            label=f"target {target_accuracy:.0%}",
        )
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("Automation rate (share of records coded automatically)")
    ax.set_ylabel("Accuracy of automatically coded records")
    ax.set_title("Automation curve")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left")
    return fig


def plot_hierarchical_accuracy(reports: Any, *, ax: Axes | None = None) -> Figure:
    """Accuracy at each level of the classification hierarchy, one line per model.

    Parameters
    ----------
    reports : DataFrame, dict or tuple, or a dict of them by model name
        A :func:`~squad.evaluation.metrics.hierarchical_accuracy_report` DataFrame, a
        :func:`~squad.evaluation.metrics.coding_report` dict (its ``accuracy_level_<l>`` entries)
        or a ``(y_true, y_pred)`` tuple.
    ax : matplotlib Axes, default=None
        Axes to draw into; None makes a new Figure.

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
    fig, ax = _figure_and_axes(ax, (5.0, 3.5))
    all_levels: set[int] = set()
    for name, item in _by_model(reports, "model").items():
        if isinstance(item, pd.DataFrame):
            levels, acc = item["level"].to_numpy(), item["accuracy"].to_numpy()
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
        ax.plot(levels, acc, marker="o", label=str(name))
        all_levels.update(int(v) for v in levels)
    ax.set_xticks(sorted(all_levels))
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("Hierarchy level (leading characters of the code)")
    ax.set_ylabel("Accuracy")
    ax.set_title("Accuracy by hierarchy level")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left")
    return fig


def plot_confusion_matrix(
    y_true: Any,
    y_pred: Any,
    *,
    n_classes: int = 20,
    normalize: str | None = "true",
    ax: Axes | None = None,
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
    fig, ax = _figure_and_axes(ax, (size + 1.0, size))
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
    return fig


def plot_reliability_diagram(
    y_true: Any,
    y_pred: Any,
    confidence: Any,
    *,
    n_bins: int = 15,
    ax: Axes | None = None,
) -> Figure:
    """Accuracy against confidence in equal-width bins, with the diagonal.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    confidence : array-like of shape (n_samples,)
        Confidence of each prediction in [0, 1].
    n_bins : int, default=15
        Number of bins (as in :func:`~squad.evaluation.metrics.expected_calibration_error`).
    ax : matplotlib Axes, default=None
        Axes to draw into; None makes a new Figure.

    Returns
    -------
    matplotlib.figure.Figure
        One bar per non-empty bin, the diagonal of perfect calibration as a line, and
        the ECE in the title.

    Raises
    ------
    ValueError
        On bad labels, confidences outside [0, 1] or ``n_bins`` < 1.

    Examples
    --------
    >>> fig = plot_reliability_diagram(["a", "b", "a"], ["a", "b", "b"], [0.9, 0.8, 0.4],
    ...                                n_bins=5)
    >>> len(fig.axes[0].patches), len(fig.axes[0].lines)
    (3, 1)
    """
    table = calibration_report(y_true, y_pred, confidence, n_bins=n_bins)
    ece = expected_calibration_error(y_true, y_pred, confidence, n_bins=n_bins)
    fig, ax = _figure_and_axes(ax, (4.5, 4.5))
    filled = table[table["n"] > 0]
    ax.bar(
        filled["bin_lower"],
        filled["accuracy"],
        width=filled["bin_upper"] - filled["bin_lower"],
        align="edge",
        edgecolor="white",
        label="accuracy in bin",
    )
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.4", label="perfect calibration")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("Confidence")
    ax.set_ylabel("Accuracy")
    ax.set_title(f"Reliability diagram (ECE {ece:.3f})")
    ax.legend(loc="upper left")
    return fig


def plot_imputation_distributions(
    y_true: Any,
    y_imputed: Any,
    *,
    mask: Any = None,
    bins: int = 30,
    ax: Axes | None = None,
) -> Figure:
    """True against imputed distribution of the imputed records.

    Numeric variables are drawn as two density histograms (outlines) on shared bins,
    with the Kolmogorov-Smirnov distance in the title; categorical ones as side-by-side
    bars of category shares.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True values.
    y_imputed : array-like of shape (n_samples,)
        Values after imputation.
    mask : array-like of bool of shape (n_samples,), default=None
        True where the value was imputed; None uses every record.
    bins : int, default=30
        Number of histogram bins for numeric variables.
    ax : matplotlib Axes, default=None
        Axes to draw into; None makes a new Figure.

    Returns
    -------
    matplotlib.figure.Figure
        Two step outlines (numeric) or two bar groups (categorical), labelled "true"
        and "imputed".

    Raises
    ------
    ValueError
        On empty or mismatched inputs, missing values, a bad mask or ``bins`` < 1.

    Examples
    --------
    >>> fig = plot_imputation_distributions([1.0, 2.0, 3.0], [1.5, 2.0, 2.5])
    >>> [patch.get_label() for patch in fig.axes[0].patches]
    ['true', 'imputed']
    """
    bins = check_positive_int(bins, "bins")
    yt = as_values(y_true, "y_true")
    yi = as_values(y_imputed, "y_imputed")
    n = check_same_length(y_true=yt, y_imputed=yi)
    m = check_mask(mask, n)
    fig, ax = _figure_and_axes(ax, (6.0, 4.0))
    if is_numeric(yt) and is_numeric(yi):
        a, b = yt[m].astype(float), yi[m].astype(float)
        for name, arr in (("y_true", a), ("y_imputed", b)):
            if np.isnan(arr).any():
                msg = (
                    f"{name} has {int(np.isnan(arr).sum())} missing values among the "
                    "imputed records; expected complete values."
                )
                raise InvalidInputError(msg)
        edges = np.histogram_bin_edges(np.concatenate([a, b]), bins=bins)
        for arr, label in ((a, "true"), (b, "imputed")):
            density, _ = np.histogram(arr, bins=edges, density=True)
            ax.stairs(density, edges, label=label, linewidth=1.5)
        ks = weighted_ks_distance(b, a, np.ones(len(b)), np.ones(len(a)))
        ax.set_ylabel("Density")
        ax.set_title(f"Imputed records (n={int(m.sum())}), KS distance {ks:.3f}")
    else:
        (t, i), uniques = encode_labels(
            {"y_true": as_1d(yt[m], "y_true"), "y_imputed": as_1d(yi[m], "y_imputed")}
        )
        k = len(uniques)
        x = np.arange(k)
        for offset, codes, label in ((-0.2, t, "true"), (0.2, i, "imputed")):
            ax.bar(
                x + offset,
                np.bincount(codes, minlength=k) / len(codes),
                0.4,
                label=label,
            )
        ax.set_xticks(x, [str(u) for u in uniques], rotation=45, ha="right")
        ax.set_ylabel("Share of imputed records")
        ax.set_title(f"Imputed records (n={int(m.sum())})")
    ax.legend()
    return fig
