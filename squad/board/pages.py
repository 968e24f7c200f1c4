"""What the board's pages show, prepared for the templates of :mod:`squad.board._templates`.

:func:`task_view` turns one task's ranked table into rows, figures and flags;
:func:`run_view` a run into its method description (the "fact sheet"), metrics,
parameters, provenance and figures. Images are handed to an ``image`` callable that
returns the ``src`` to use: a ``data:`` URI on the single page, a file of the site
otherwise. All text goes through Jinja2 with autoescape (:func:`render`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from squad.board.collect import describe_flag
from squad.board.figures import automation_png, hierarchy_png, parameters_png, run_label
from squad.board.intake import RunProblem, read_png
from squad.board.leaderboard import (
    CHECK_COLUMN,
    FLAGS_COLUMN,
    is_number,
    lower_is_better,
    table_cell,
    varying_parameters,
)
from squad.board.run import BoardRun
from squad.board.safety import one_line
from squad.records import RunRecord

__all__ = ["data_uri", "render", "run_slug", "run_view", "task_view"]

logger = logging.getLogger("squad")

#: Image bytes -> the ``src`` of an ``<img>``.
ImageSink = Callable[[bytes], str]


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    from jinja2 import DictLoader, Environment, StrictUndefined

    from squad.board._templates import TEMPLATES

    return Environment(
        loader=DictLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, **context: Any) -> str:
    """Render one of the board's templates (autoescaped)."""
    return _environment().get_template(template).render(**context)


def data_uri(png: bytes) -> str:
    """An inline ``data:`` URI of PNG bytes (for the single self-contained page)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def run_slug(run: BoardRun) -> str:
    """File name (without ``.html``) of a run's page: run id, member, and a hash of both.

    Two owners' runs with the same id get different pages.
    """
    kind, owner = run.identity.owner
    text = re.sub(r"[^a-z0-9]+", "-", run.member.lower()).strip("-")[:30]
    key = (
        f"{run.run_id}\0{owner}"
        if kind == "member"
        else f"{run.run_id}\0{kind}\0{owner}"
    )
    digest = hashlib.sha256(key.encode("utf-8", "backslashreplace")).hexdigest()[:8]
    return f"{run.run_id}-{text or 'unknown'}-{digest}"


def _number(value: Any) -> str:
    if isinstance(value, bool) or not is_number(value):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return "-" if math.isnan(value) else f"{value:.4f}"


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return str(table_cell(value))[:500]


def task_view(
    table: pd.DataFrame,
    *,
    image: ImageSink,
    top: int = 10,
    run_href: Callable[[Mapping[str, Any]], str] | None = None,
    best_figures: bool = False,
) -> dict[str, Any]:
    """The ranking, flags and figures of one task's table, for the ``ranking`` macro.

    Parameters
    ----------
    table : DataFrame
        From :func:`squad.board.leaderboard.leaderboard_table`.
    image : callable
        PNG bytes -> ``src``.
    top : int, default=10
        How many of the best runs the curve figures overlay.
    run_href : callable, optional
        Record -> link to the run's page (the ``run_id`` cell links to it).
    best_figures : bool, default=False
        Also show the figures of the best run.
    """
    metric = table.attrs["metric"]
    records = table.attrs["records"]
    ok = [r for r in records if r.record.status == "ok"]
    ranked = [r for r in ok if r.ranked]
    params = varying_parameters(ok or records, fallback=False)
    names = [c for c in table.columns]
    numeric = {metric, "rank", *[c for c in names if c not in params]} - {
        "member",
        "date",
        "run_id",
        CHECK_COLUMN,
        FLAGS_COLUMN,
        "status",
    }
    columns = [{"name": c, "css": "" if c in numeric else "text"} for c in names]
    rows = []
    for position, values in enumerate(table.itertuples(index=False)):
        rec = records[position]
        cells = []
        for name, value in zip(names, values, strict=True):
            text = (
                _number(value) if name in numeric and name != "rank" else _text(value)
            )
            if name == "rank":
                text = "-" if value is None or pd.isna(value) else str(int(value))
            href = run_href(rec) if run_href and name == "run_id" else None
            cells.append(
                {"text": text, "href": href, "css": "" if name in numeric else "text"}
            )
        rows.append(cells)
    best = ranked[:top]
    drawn = [
        (b, r.run_id, r.member, r.record.parameters, r.metrics)
        for r in best
        for b in [run_label(r, params)]
    ]
    figures = []
    for title, alt, kind, inputs, draw in (
        (
            "Automation curves",
            "automation curves",
            "automation",
            drawn,
            lambda: automation_png(best, params),
        ),
        (
            "Accuracy by hierarchy level",
            "accuracy by level",
            "levels",
            drawn,
            lambda: hierarchy_png(best, params),
        ),
        (
            "Metric against parameters",
            f"{metric} plot",
            "parameters",
            table.to_json(orient="split", default_handler=str),
            lambda: parameters_png(table, metric, params),
        ),
    ):
        src = _figure(
            image, [kind, metric, params, inputs], _guarded(draw, title, table)
        )
        if src:
            figures.append(_section(title, src, alt))
    if best_figures and ranked:
        shown = run_images(ranked[0], image)
        if shown:
            title = f"Figures of the best run ({run_label(ranked[0], params)})"
            figures.append({"title": title, "images": shown})
    reported = sorted({n for r in ok if r.scoring for n in r.scoring.reported})
    return {
        "task": table.attrs["task"].label,
        "metric": metric + (" (lower is better)" if lower_is_better(metric) else ""),
        "columns": columns,
        "rows": rows,
        "flagged": [describe_flag(r) for r in table.attrs.get("flagged") or []],
        "checked": CHECK_COLUMN in table,
        "reported": ", ".join(reported),
        "figures": figures,
    }


def _guarded(
    draw: Callable[[], bytes | None], title: str, table: pd.DataFrame
) -> Callable[[], bytes | None]:
    """``draw``, except that a figure matplotlib cannot draw is left out with a warning.

    The numbers come from run folders; no value of theirs may stop the board.
    """

    def guarded() -> bytes | None:
        try:
            return draw()
        except Exception as err:  # any failure of the plotting library
            logger.warning(
                "Task %s: figure %r left out (%s)",
                one_line(table.attrs["task"].label, 120),
                title,
                one_line(f"{type(err).__name__}: {err}", 200),
            )
            return None

    return guarded


def _figure(image: ImageSink, inputs: Any, draw: Callable[[], bytes | None]) -> str:
    """The ``src`` of a drawn figure; a sink with ``cached`` may skip the drawing."""
    cached = getattr(image, "cached", None)
    if cached is not None:
        return cached(inputs, draw)
    png = draw()
    return image(png) if png else ""


def _section(title: str, src: str, alt: str) -> dict[str, Any]:
    return {"title": title, "images": [{"src": src, "alt": alt, "caption": ""}]}


def run_images(run: BoardRun, image: ImageSink) -> list[dict[str, str]]:
    """The run's own figures (checked again as they are read), as image entries."""
    folder = run.folder
    if folder is None:
        return []
    shown = []
    files = run.record.files
    for name, rel in run.figures.items():
        entry = files.get(rel) if isinstance(files, Mapping) else None
        wanted = entry.get("sha256") if isinstance(entry, Mapping) else None
        try:
            data = read_png(folder, rel, name, wanted)
        except RunProblem:
            continue  # changed since it was checked: left out
        shown.append({"src": image(data), "alt": str(name), "caption": str(name)})
    return shown


def _flatten(value: Any, prefix: str = "", depth: int = 0) -> list[tuple[str, str]]:
    if isinstance(value, Mapping) and depth < 3:
        rows = []
        for key, inner in value.items():
            rows += _flatten(
                inner, f"{prefix}.{key}" if prefix else str(key), depth + 1
            )
        return rows
    return [(prefix, _text(value))]


def fact_sheet(rec: RunRecord) -> list[tuple[str, str]]:
    """A run's method description: what it recorded, the rest from the run itself.

    Fields: model, features, training data, fit time, hardware, description (the
    record's ``fact_sheet``, e.g. from ``squad submit --description``, wins).
    """
    params = rec.parameters
    provenance = rec.provenance
    data = rec.dataset
    metrics = rec.metrics
    derived: dict[str, str] = {}
    if params.get("model"):
        settings = params.get("settings")
        derived["model"] = _text(params["model"]) + (
            f" {_text(settings)}" if settings else ""
        )
    if data.get("text") or params.get("text"):
        derived["features"] = (
            f"text columns: {_text(data.get('text') or params['text'])}"
        )
    if data.get("name"):
        size = (
            f", {data['n_train']:,} training rows"
            if _is_int(data.get("n_train"))
            else ""
        )
        derived["training data"] = (
            f"{data['name']} train split ({data.get('protocol') or 'default'} protocol"
            f"{size})"
        )
    if is_number(metrics.get("fit_seconds")):
        derived["fit time"] = f"{metrics['fit_seconds']:.1f} s (as reported)"
    hardware = [provenance.get(k) for k in ("platform", "python")]
    if any(isinstance(h, str) and h for h in hardware):
        derived["hardware"] = ", ".join(
            f"{k} {v}"
            for k, v in zip(("platform", "Python"), hardware, strict=True)
            if v
        )
    given = rec.fact_sheet
    if isinstance(params.get("description"), str) and params["description"].strip():
        derived["description"] = params["description"]
    merged = {**derived, **{str(k).replace("_", " "): str(v) for k, v in given.items()}}
    order = [
        "model",
        "features",
        "training data",
        "fit time",
        "hardware",
        "description",
    ]
    keys = [k for k in order if k in merged] + [k for k in merged if k not in order]
    return [(k, merged[k][:4000]) for k in keys] or [("description", "none recorded")]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def run_view(run: BoardRun, *, image: ImageSink) -> dict[str, Any]:
    """The context of a run's page (without ``title``/``nav``)."""
    reported = set(run.scoring.reported if run.scoring is not None else ())
    check = run.check or "self-reported"
    metrics = []
    for name, value in sorted(run.metrics.items()):
        if isinstance(value, list | dict):
            continue
        how = "as reported" if name in reported or check == "self-reported" else check
        metrics.append((name, _number(value) if value is not None else "-", how))
    return {
        "facts": fact_sheet(run.record),
        "metrics": metrics,
        "parameters": [(str(k), _text(v)) for k, v in run.record.parameters.items()],
        "provenance": _provenance(run),
        "figures": run_images(run, image),
    }


def _provenance(run: BoardRun) -> list[tuple[str, str]]:
    """The provenance rows of a run's page, its signature first.

    With a signers file the member a record names is not shown: the run's owner is
    the name of the key that signed it.
    """
    signature = run.signature
    rows = []
    if signature is not None:
        name = (
            f" = {signature.name}" if signature.name else " (not in the signers file)"
        )
        rows.append(("signed by key", f"{signature.fingerprint}{name}"))
    elif run.folder is not None:
        rows.append(("signed by key", "not signed"))
    owner_kind = run.identity.owner[0]
    for name, value in _flatten(run.record.provenance):
        if name == "member" and owner_kind != "member":
            continue
        rows.append((name, value))
    return rows[:200]
