"""Planning a sweep: which runs a notebook and a grid make, each checked and given its id.

:func:`plan_sweep` reads the notebook's parameters cell and the grid (see
:mod:`squad.runs.params`), fills in the defaults, checks every run against its dataset
card and its model (:mod:`squad.runs.checks`) and gives each a stable id
(:func:`make_run_id`): the first 12 hex digits of the SHA-256 of the notebook's cells
(outputs stripped), the canonical JSON of its full parameters, the dataset checksum and,
for a member's own model, the sha256 of its file (or its package's version). The same
run on two machines gets the same id, and different runs never share one. Nothing runs
here: :mod:`squad.runs.sweep` executes the plan.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from squad.runs.checks import check_run, clear_inapplicable
from squad.runs.params import (
    canonical_json,
    cell_source,
    expand_grid,
    notebook_parameters,
    parse_value,
    read_grid,
    read_notebook,
    resolve_parameters,
)

__all__ = [
    "DatasetLookup",
    "PlannedRun",
    "SweepPlan",
    "code_identity",
    "default_dataset_checksum",
    "default_grid",
    "make_run_id",
    "notebook_sha256",
    "plan_sweep",
]

DatasetLookup = Callable[[str], "str | None"]
#: The parameters :func:`squad.runs.checks.check_run` reads.
_CHECKED = ("dataset", "protocol", "language", "text", "model", "seed", "settings")


def default_dataset_checksum(name: str) -> str | None:
    """Return ``squad.data.datasets.dataset_checksum(name)``.

    Parameters
    ----------
    name : str
        Dataset name, as given in a notebook's ``dataset`` parameter.

    Returns
    -------
    str or None

    Raises
    ------
    KeyError
        If the catalogue has no such dataset.
    """
    from squad.data.datasets import dataset_checksum  # pandas: only when a run needs it

    return dataset_checksum(name)


def notebook_sha256(nb: Any) -> str:
    """SHA-256 of a notebook's cells without outputs (stable across executions).

    Cell types, sources and tags count; outputs, execution counts, metadata and an
    injected-parameters cell do not.

    Examples
    --------
    >>> from nbformat.v4 import new_notebook, new_code_cell
    >>> a = new_notebook(cells=[new_code_cell("x = 1")])
    >>> b = new_notebook(cells=[new_code_cell("x = 1", execution_count=3)])
    >>> notebook_sha256(a) == notebook_sha256(b)
    True
    """
    cells = []
    for cell in nb["cells"]:
        tags = sorted(cell.get("metadata", {}).get("tags", []))
        if "injected-parameters" in tags:
            continue
        source = cell_source(cell)
        cells.append({"type": cell["cell_type"], "source": source, "tags": tags})
    return hashlib.sha256(canonical_json(cells).encode("utf-8")).hexdigest()


def code_identity(code: Mapping[str, Any]) -> str:
    """What names a member's model code in a run id: a file's sha256, a package's version.

    Examples
    --------
    >>> code_identity({"kind": "entry_point", "package": "coders", "version": "1.2"})
    'coders==1.2'
    """
    if code.get("kind") == "file":
        return str(code["sha256"])
    return f"{code.get('package')}=={code.get('version')}"


def make_run_id(
    notebook_hash: str,
    parameters: Mapping[str, Any],
    dataset_sha256: str | None,
    code: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """Return the run id: 12 hex digits naming notebook, parameters, data and code.

    ``code`` maps a parameter to the member code it names (see
    :func:`squad.runs.checks.check_run`); a member's file then counts by its sha256
    and factory, whatever path names it; without member code, the id depends on the
    notebook, parameters and data only.

    Examples
    --------
    >>> make_run_id("ab" * 32, {"seed": 0, "C": 1.0}, None)
    '8ccae0738494'
    >>> make_run_id("ab" * 32, {"C": 1.0, "seed": 0}, None)
    '8ccae0738494'
    """
    named = dict(parameters)
    for name, member in (code or {}).items():
        if member.get("kind") == "file" and name in named:
            # A member's file counts by its content (under "code"), not by how its
            # path was spelt: ./coder.py, coder.py and /abs/coder.py are one run.
            named[name] = f"file:{member.get('factory')}"
    payload: dict[str, Any] = {
        "notebook": notebook_hash,
        "parameters": named,
        "dataset": dataset_sha256,
    }
    if code:
        payload["code"] = {name: code_identity(c) for name, c in code.items()}
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class PlannedRun:
    """One validated run of a sweep."""

    run_id: str
    parameters: dict[str, Any]
    dataset: dict[str, Any] | None
    code: dict[str, dict[str, Any]] = field(default_factory=dict)

    def code_provenance(self) -> dict[str, Any] | None:
        """The member code of this run for its record (without the source text)."""
        if not self.code:
            return None
        return {
            name: {k: v for k, v in code.items() if k not in ("source", "path")}
            for name, code in self.code.items()
        }


@dataclass
class SweepPlan:
    """A notebook and its validated runs, before anything executes."""

    notebook: Path
    nb: Any
    experiment: str
    notebook_sha256: str
    runs: list[PlannedRun]

    @property
    def kernel_name(self) -> str:
        """The notebook's kernel (``python3`` if it names none)."""
        return self.nb["metadata"].get("kernelspec", {}).get("name") or "python3"


def default_grid(notebook: str | os.PathLike[str]) -> Path | None:
    """Return ``<stem>.grid.yml`` beside the notebook if it exists.

    Examples
    --------
    >>> default_grid("no/such/coding.ipynb") is None
    True
    """
    path = Path(notebook)
    for suffix in (".grid.yml", ".grid.yaml"):
        candidate = path.with_name(path.stem + suffix)
        if candidate.is_file():
            return candidate
    return None


def _given_values(
    params: Mapping[str, Any] | Sequence[tuple[str, str]] | None,
    declared: Mapping[str, Any],
) -> dict[str, list[Any]]:
    """Values given with ``-p``: name -> its distinct values, checked one by one.

    Pairs of strings (from the command line) are parsed as YAML scalars, or kept as
    text for ``str`` parameters; a name given several times gets several values. A
    mapping (from Python) gives one value per name.
    """
    given: dict[str, list[Any]] = {}
    if isinstance(params, Mapping):
        items = [(name, value) for name, value in params.items()]
    else:
        items = [
            (name, parse_value(text, declared.get(name))) for name, text in params or []
        ]
    for name, value in items:
        checked = resolve_parameters({name: value}, declared, where="given with -p")
        values = given.setdefault(name, [])
        # Compared as canonical JSON: with ==, True equals 1 and {a: true} {a: 1}.
        if canonical_json(checked[name]) not in {canonical_json(v) for v in values}:
            values.append(checked[name])
    return given


def plan_sweep(
    notebook: str | os.PathLike[str],
    *,
    grid: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | Sequence[tuple[str, str]] | None = None,
    experiment: str | None = None,
    dataset_checksum: DatasetLookup | None = default_dataset_checksum,
) -> SweepPlan:
    """Read a notebook and a grid, validate every run and give each its id.

    Parameters
    ----------
    notebook : path-like
        The notebook, with one cell tagged ``parameters``.
    grid : path-like or mapping, optional
        A grid file or an already-read grid (``base``/``grid``/``runs``). Default:
        ``<stem>.grid.yml`` beside the notebook if it exists and no ``params`` are
        given, else one run of the notebook's defaults.
    params : mapping or sequence of (name, text) pairs, optional
        Values fixed for every run (on top of the grid, or of the defaults). Pairs of
        strings (from ``-p NAME VALUE``) are parsed as YAML scalars, or kept as text
        for ``str`` parameters; a name given in several pairs sweeps over its values.
        A relative model file path is relative to the working folder (in a grid file,
        to the grid file's folder).
    experiment : str, optional
        Experiment name (default: the notebook's stem).
    dataset_checksum : callable or None
        ``name -> sha256`` for a notebook's ``dataset`` parameter; None skips it.

    Returns
    -------
    SweepPlan

    Raises
    ------
    OSError
        If the notebook or grid file cannot be read.
    ValueError
        On an unknown parameter (the message lists the declared ones), a value of
        the wrong type, or a run its dataset card or its model rules out.

    Examples
    --------
    >>> import pathlib, tempfile, nbformat
    >>> from nbformat.v4 import new_notebook, new_code_cell
    >>> cell = new_code_cell("model: str = 'lookup'\\nseed: int = 0")
    >>> cell.metadata["tags"] = ["parameters"]
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "demo.ipynb"
    >>> nbformat.write(new_notebook(cells=[cell]), path)
    >>> plan = plan_sweep(path, grid={"grid": {"seed": [0, 1]}}, params={"model": "nb"})
    >>> [run.parameters for run in plan.runs]
    [{'model': 'nb', 'seed': 0}, {'model': 'nb', 'seed': 1}]
    >>> plan = plan_sweep(path, params=[("seed", "1"), ("seed", "2")])
    >>> [run.parameters for run in plan.runs]
    [{'model': 'lookup', 'seed': 1}, {'model': 'lookup', 'seed': 2}]
    >>> plan_sweep(path, params={"sead": 1})
    Traceback (most recent call last):
    ...
    squad.errors.InvalidInputError: Unknown parameter 'sead' (given with -p). The notebook declares: model, seed.
    """
    path = Path(notebook)
    nb = read_notebook(path)
    declared = notebook_parameters(nb)
    given = _given_values(params, declared)
    grid_dir: Path = Path.cwd()
    if grid is None and not given:
        grid = default_grid(path)
    if grid is None:
        runs, source = [{}], "given with -p" if given else "defaults"
    elif isinstance(grid, Mapping):
        runs, source = expand_grid(grid), "grid"
    else:
        runs, source = read_grid(grid), f"grid file {grid}"
        grid_dir = Path(grid).resolve().parent
    if given:
        names = list(given)
        runs = [
            {**values, **dict(zip(names, combo, strict=True))}
            for values in runs
            for combo in itertools.product(*given.values())
        ]
    nb_hash = notebook_sha256(nb)
    checksums: dict[str, str | None] = {}
    checked: dict[str, dict[str, Any] | None] = {}
    planned: list[PlannedRun] = []
    seen: set[str] = set()
    cwd = Path.cwd()
    for number, values in enumerate(runs, start=1):
        where = f"{source}, run {number}" if len(runs) > 1 else source
        resolved = clear_inapplicable(resolve_parameters(values, declared, where=where))
        base_dirs = {name: cwd if name in given else grid_dir for name in resolved}
        # Runs that differ only in other parameters share one check (a member's
        # model is built and tried once, not once per run).
        key = canonical_json(
            [{n: resolved.get(n) for n in _CHECKED}, str(base_dirs.get("model"))]
        )
        if key not in checked:
            checked[key] = check_run(resolved, where=where, base_dirs=base_dirs)
        member_code = checked[key]
        code = {"model": member_code} if member_code else {}
        dataset = None
        name = resolved.get("dataset")
        if isinstance(name, str) and "dataset" in declared:
            if dataset_checksum is not None and name not in checksums:
                checksums[name] = dataset_checksum(name)
            dataset = {"name": name, "sha256": checksums.get(name)}
            if "protocol" in resolved:
                dataset["protocol"] = resolved["protocol"]
        run_id = make_run_id(nb_hash, resolved, dataset and dataset["sha256"], code)
        if run_id in seen:
            continue
        seen.add(run_id)
        planned.append(PlannedRun(run_id, resolved, dataset, code))
    return SweepPlan(path, nb, experiment or path.stem, nb_hash, planned)
