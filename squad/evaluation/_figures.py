"""What every figure of :mod:`squad.evaluation.plots` shares: colours, line styles, alt text.

Colours come from the Okabe-Ito palette, which readers with the common forms of colour
blindness can tell apart; each series also gets its own line style and marker, so the
figure still reads in grey or for a reader who sees no colour at all.

A figure made by the plotting functions is a :class:`DescribedFigure`: a matplotlib
Figure with a short text description (alt text). In a notebook it shows as an image whose
``alt`` attribute is that text (screen readers read it), and a PNG or SVG file saved from
it carries the text as its description and the figure's title as its title.
"""

from __future__ import annotations

import base64
import html
import io
import os
from typing import Any

from matplotlib import rcParams
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = [
    "OKABE_ITO",
    "REFERENCE_STYLE",
    "DescribedFigure",
    "describe",
    "figure_and_axes",
    "pct",
    "series_style",
]

#: Okabe and Ito's colour-blind-safe palette, in the order the series take it (yellow,
#: hard to see on white, last).
OKABE_ITO = (
    "#0072B2",  # blue
    "#D55E00",  # vermilion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)
_LINESTYLES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
#: Reference lines (a target, perfect calibration): grey and dotted, unlike any series.
REFERENCE_STYLE = {"color": "0.35", "linestyle": (0, (1, 2)), "linewidth": 1.2}


def series_style(index: int) -> dict[str, Any]:
    """Colour, line style and marker of the ``index``-th series of a figure.

    Parameters
    ----------
    index : int
        Position of the series, from 0.

    Returns
    -------
    dict
        ``color``, ``linestyle`` and ``marker``, ready for ``Axes.plot(**style)``.

    Examples
    --------
    >>> series_style(0)
    {'color': '#0072B2', 'linestyle': '-', 'marker': 'o'}
    >>> series_style(1)["linestyle"], series_style(1)["marker"]
    ('--', 's')
    """
    return {
        "color": OKABE_ITO[index % len(OKABE_ITO)],
        "linestyle": _LINESTYLES[index % len(_LINESTYLES)],
        "marker": _MARKERS[index % len(_MARKERS)],
    }


def _title(fig: Figure) -> str:
    for ax in fig.axes:
        if ax.get_title():
            return ax.get_title()
    return ""


class DescribedFigure(Figure):
    """A matplotlib Figure that carries a text description (alt text).

    Shown in a notebook, it is an image with the description as its ``alt`` text (an
    HTML ``<img>``, with the plain PNG and the text beside it for other front ends).
    Saved as PNG or SVG, the file's metadata holds the description and the title.

    Examples
    --------
    >>> fig = DescribedFigure()
    >>> fig.alt_text = "A line rising from 0 to 1."
    >>> data, _ = fig._repr_mimebundle_()
    >>> 'alt="A line rising from 0 to 1."' in data["text/html"]
    True
    """

    alt_text: str = ""

    def _metadata(self, fmt: str, metadata: dict | None) -> dict | None:
        if fmt not in ("png", "svg"):
            return metadata
        title = _title(self)
        extra = {"Title": title} if title else {}
        if self.alt_text:
            extra["Description"] = self.alt_text
        return {**extra, **(metadata or {})}

    def savefig(self, fname: Any, *args: Any, **kwargs: Any) -> None:
        """Save as matplotlib does; PNG and SVG files also get the title and alt text."""
        fmt = kwargs.get("format")
        if fmt is None and isinstance(fname, str | os.PathLike):
            suffix = os.path.splitext(os.fspath(fname))[1]
            fmt = suffix[1:] or None
        fmt = str(fmt or rcParams["savefig.format"]).lower()
        kwargs["metadata"] = self._metadata(fmt, kwargs.get("metadata"))
        super().savefig(fname, *args, **kwargs)

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> tuple[dict[str, str], dict]:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        png = base64.b64encode(buffer.getvalue()).decode("ascii")
        alt = self.alt_text or _title(self) or "Figure"
        image = (
            f'<img src="data:image/png;base64,{png}" '
            f'alt="{html.escape(alt, quote=True)}">'
        )
        return {"text/html": image, "image/png": png, "text/plain": alt}, {}


def figure_and_axes(
    ax: Axes | None, figsize: tuple[float, float]
) -> tuple[Figure, Axes]:
    """The Axes to draw into: ``ax`` and its figure, or a new DescribedFigure's."""
    if ax is None:
        fig = DescribedFigure(figsize=figsize, layout="constrained")
        return fig, fig.add_subplot()
    return ax.get_figure(root=True), ax


def describe(fig: Figure, ax: Axes | None, alt_text: str | None, default: str) -> None:
    """Give a figure the plotting function made (``ax`` was None) its alt text."""
    if ax is None and isinstance(fig, DescribedFigure):
        fig.alt_text = alt_text or default


def pct(value: float) -> str:
    """A share as a rounded percentage for a description: ``0.456`` -> ``'46 %'``."""
    return f"{100 * value:.0f} %"
