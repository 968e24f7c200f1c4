"""Figures for estimates: imputed against true values, and domain estimates side by side.

Part of :mod:`squad.evaluation.plots` (import them from there, or from ``squad.plots``);
they share its colours, line styles and alt text (:mod:`squad.evaluation._figures`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from squad.errors import InvalidInputError
from squad.evaluation._figures import describe, figure_and_axes, series_style
from squad.evaluation._inputs import (
    as_1d,
    as_values,
    check_mask,
    check_positive_int,
    check_same_length,
    encode_labels,
    is_numeric,
    weighted_ks_distance,
)

__all__ = ["plot_domain_estimates", "plot_imputation_distributions"]


def plot_imputation_distributions(
    y_true: Any,
    y_imputed: Any,
    *,
    mask: Any = None,
    bins: int = 30,
    xlabel: str | None = None,
    ax: Axes | None = None,
    alt_text: str | None = None,
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
    xlabel : str, default=None
        Label of the x axis (the variable, e.g. "Hourly pay (GBP)"); None writes "Value"
        or "Category".
    ax : matplotlib Axes, default=None
        Axes to draw into; None makes a new Figure.
    alt_text : str, default=None
        Description of the figure for readers who cannot see it; None writes one.

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
    made_here = ax
    fig, ax = figure_and_axes(ax, (6.0, 4.0))
    true_style, imputed_style = series_style(0), series_style(1)
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
        for arr, label, style in (
            (a, "true", true_style),
            (b, "imputed", imputed_style),
        ):
            density, _ = np.histogram(arr, bins=edges, density=True)
            ax.stairs(
                density,
                edges,
                label=label,
                linewidth=1.8,
                color=style["color"],
                linestyle=style["linestyle"],
            )
        ks = weighted_ks_distance(b, a, np.ones(len(b)), np.ones(len(a)))
        ax.set_xlabel(xlabel or "Value")
        ax.set_ylabel("Density")
        ax.set_title(f"Imputed records (n={int(m.sum())}), KS distance {ks:.3f}")
        said = (
            f"Histograms (outlines) of the true (solid) and imputed (dashed) values of "
            f"the {int(m.sum())} imputed records. Standard deviation {np.std(a):.3g} "
            f"true against {np.std(b):.3g} imputed; Kolmogorov-Smirnov distance "
            f"{ks:.3f} (0 = the same distribution)."
        )
    else:
        (t, i), uniques = encode_labels(
            {"y_true": as_1d(yt[m], "y_true"), "y_imputed": as_1d(yi[m], "y_imputed")}
        )
        k = len(uniques)
        x = np.arange(k)
        for offset, codes, label, style, hatch in (
            (-0.2, t, "true", true_style, None),
            (0.2, i, "imputed", imputed_style, "//"),
        ):
            ax.bar(
                x + offset,
                np.bincount(codes, minlength=k) / len(codes),
                0.4,
                label=label,
                color=style["color"],
                hatch=hatch,
                edgecolor="white",
            )
        ax.set_xticks(x, [str(u) for u in uniques], rotation=45, ha="right")
        ax.set_xlabel(xlabel or "Category")
        ax.set_ylabel("Share of imputed records")
        ax.set_title(f"Imputed records (n={int(m.sum())})")
        said = (
            f"Bar chart of the share of each of {k} categories among the "
            f"{int(m.sum())} imputed records: true values (plain bars) beside imputed "
            "values (hatched bars)."
        )
    ax.legend()
    describe(fig, made_here, alt_text, said)
    return fig


def plot_domain_estimates(
    estimates: pd.DataFrame,
    *,
    reference: str | None = None,
    xlabel: str = "Estimate",
    title: str = "Estimates by domain",
    ax: Axes | None = None,
    alt_text: str | None = None,
) -> Figure:
    """Domain estimates made in several ways, side by side: a dot plot.

    Each row of ``estimates`` is a domain (a region, an age band), each column a way of
    making the estimate (a method, a file). Each domain gets a row of markers, one per
    column, so that a reader sees at once which method moves which domain, and how far.

    Parameters
    ----------
    estimates : pandas.DataFrame
        One row per domain (the index names it), one numeric column per method.
    reference : str, default=None
        The column the others are judged against (for example the true values): drawn
        as a black bar, and the domains are sorted by it. None sorts by the first column.
    xlabel : str, default="Estimate"
        Label of the x axis: what is estimated, with its unit.
    title : str, default="Estimates by domain"
        Title of the figure.
    ax : matplotlib Axes, default=None
        Axes to draw into; None makes a new Figure.
    alt_text : str, default=None
        Description of the figure for readers who cannot see it; None writes one that
        names the largest difference from ``reference``.

    Returns
    -------
    matplotlib.figure.Figure
        One line of markers (no connecting line) per column.

    Raises
    ------
    ValueError
        If ``estimates`` is not a non-empty DataFrame of numbers, or ``reference`` is
        not one of its columns.

    Examples
    --------
    >>> table = pd.DataFrame({"true": [10.0, 20.0], "imputed": [11.0, 18.0]},
    ...                      index=["North", "South"])
    >>> fig = plot_domain_estimates(table, reference="true", xlabel="Pay (GBP)")
    >>> [line.get_label() for line in fig.axes[0].lines]
    ['true', 'imputed']
    >>> fig.alt_text.split(". ")[1]
    'The largest difference from true is imputed in South: 18 against 20.'
    """
    if not isinstance(estimates, pd.DataFrame) or estimates.empty:
        msg = (
            "estimates should be a non-empty pandas DataFrame (one row per domain, one "
            f"column per method); received {type(estimates).__name__}."
        )
        raise InvalidInputError(msg)
    columns = [str(c) for c in estimates.columns]
    if reference is not None and reference not in columns:
        msg = (
            f"reference '{reference}' is not a column of estimates. "
            f"Available: {', '.join(columns)}."
        )
        raise InvalidInputError(msg)
    try:
        values = estimates.set_axis(columns, axis=1).astype(float)
    except (TypeError, ValueError) as err:
        msg = f"estimates should hold numbers only: {err}"
        raise InvalidInputError(msg) from err
    key = reference if reference is not None else columns[0]
    values = values.sort_values(key)
    order = [reference] if reference is not None else []
    order += [c for c in columns if c != reference]
    made_here = ax
    fig, ax = figure_and_axes(ax, (6.5, max(3.0, 0.35 * len(values) + 1.5)))
    rows = np.arange(len(values))
    others = [c for c in order if c != reference]
    for column in order:
        if column == reference:
            ax.plot(
                values[column],
                rows,
                linestyle="none",
                marker="|",
                markersize=16,
                markeredgewidth=2.5,
                color="black",
                label=column,
            )
            continue
        style = series_style(others.index(column))
        offset = 0.12 * (others.index(column) - (len(others) - 1) / 2)
        ax.plot(
            values[column],
            rows + offset,
            linestyle="none",
            marker=style["marker"],
            color=style["color"],
            markersize=6,
            label=column,
        )
    ax.set_yticks(rows, [str(d) for d in values.index])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(str(estimates.index.name or "Domain"))
    ax.set_title(title)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    what = xlabel[:1].lower() + xlabel[1:]
    domain = str(estimates.index.name or "domain")
    said = (
        f"Dot plot of {what} (x axis) for {len(values)} values of {domain} (y axis), "
        f"one marker per column: {', '.join(order)}."
    )
    if reference is not None and others:
        gaps = values[others].sub(values[reference], axis=0).abs()
        column = str(gaps.max().idxmax())
        domain = gaps[column].idxmax()
        said += (
            f" The largest difference from {reference} is {column} in {domain}: "
            f"{values.loc[domain, column]:.3g} against {values.loc[domain, reference]:.3g}."
        )
    describe(fig, made_here, alt_text, said)
    return fig
