"""Sweeps: run a parameterised notebook over a grid and keep every run as a folder.

``run_sweep`` (the ``squad run`` command) validates every run's parameters before
anything starts (see :mod:`squad.runs.params` for the parameters cell and the grid file),
gives each run a stable id, skips runs that already have an ``ok`` record, executes the
rest on an executor (see :mod:`squad.runs.executor`) and writes each finished run to
``<out>/<experiment>/<run_id>/`` (see :class:`squad.records.RunRecord` for its contents).

A run id is the first 12 hex digits of the SHA-256 of the notebook's cells (outputs
stripped), the canonical JSON of its full parameters, the dataset checksum and, for a
member's own model, the sha256 of its file (or its package's version): the same run on
two machines gets the same id, and different runs never share one. A parameter that
does not apply to the run's dataset (``language`` on ``soc2010``) is None, in the id and
in the record (:func:`squad.runs.checks.clear_inapplicable`).

Which runs: with neither ``-p`` nor a grid, the grid file beside the notebook; ``-p``
alone means one configuration (the notebook's defaults plus the values given); with a
grid, ``-p`` values are fixed across it. A name given several times (``-p model a -p
model b``) sweeps over its values. Every run is checked against its dataset card and
its model before anything starts (:mod:`squad.runs.checks`).

A run folder is assembled under a hidden temporary name and renamed into place, with
``record.json`` written last, so a runner killed part-way leaves either a complete run
folder or none (hidden ``.<run_id>.tmp-*`` leftovers are ignored and cleared later).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import itertools
import logging
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from squad._atomic import atomic_write_bytes, replace_folder
from squad.errors import InvalidInputError
from squad.records import (
    RECORD_FILE,
    RunRecord,
    read_metrics_log,
    read_record,
    write_record,
)
from squad.runs.checks import check_run, clear_inapplicable
from squad.runs.executor import (
    RunOutcome,
    RunTask,
    environment,
    execute_run,
    open_sweep_executor,
)
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
    "PlannedRun",
    "SweepPlan",
    "SweepResult",
    "default_dataset_checksum",
    "make_run_id",
    "notebook_sha256",
    "plan_sweep",
    "run_sweep",
]

logger = logging.getLogger("squad")

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


def _git_info(notebook: Path) -> dict[str, Any] | None:
    """Commit, dirty flag and notebook path in the git repository holding it, if any."""
    path = notebook.resolve()

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args],
            cwd=path.parent,
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
        return done.stdout.strip()

    try:
        root = Path(git("rev-parse", "--show-toplevel")).resolve()
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {
        "commit": commit,
        "dirty": dirty,
        "repository": root.name,
        "notebook": path.relative_to(root).as_posix(),
    }


def _member(member: str | None) -> str | None:
    """The member a run is recorded for: ``member``, ``$SQUAD_MEMBER``, else the login."""
    found = member or os.environ.get("SQUAD_MEMBER")
    if found:
        return found
    import getpass

    try:
        login = getpass.getuser()
    except (OSError, KeyError):
        return None
    logger.warning(
        "No member given: runs are recorded for %r. Pass --member NAME or set "
        "SQUAD_MEMBER (the board shows it on every row).",
        login,
    )
    return login


@dataclass
class SweepResult:
    """What a sweep did: run ids by outcome and every run's record."""

    out_dir: Path
    ok: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    records: dict[str, RunRecord] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 when no run failed, else 1."""
        return 1 if self.failed else 0

    def summary(self) -> str:
        """A few lines for the terminal: counts, then one line per failed run."""
        lines = [
            f"{len(self.ok)} ok, {len(self.failed)} failed, {len(self.reused)} reused "
            f"-> {self.out_dir}"
        ]
        for run_id in self.failed:
            rec = self.records[run_id]
            err = rec.error or {}
            cell = err.get("cell_index")
            where = f" (cell {cell})" if cell is not None else ""
            lines.append(
                f"  {run_id} {rec.status}: {err.get('ename', '')}: "
                f"{err.get('evalue', '')}{where} {canonical_json(rec.parameters)}"
            )
        return "\n".join(lines)


def _existing_ok(run_dir: Path) -> RunRecord | None:
    if not (run_dir / RECORD_FILE).is_file():
        return None
    try:
        rec = read_record(run_dir)
    except (OSError, ValueError) as err:
        logger.warning("Ignoring unreadable record in %s: %s", run_dir, err)
        return None
    return rec if rec.status == "ok" else None


def _clear_leftovers(folder: Path) -> None:
    """Remove hidden temporary run folders left by a runner killed over an hour ago."""
    if not folder.is_dir():
        return
    limit = time.time() - 3600
    for path in folder.glob(".*.tmp-*"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < limit:
                shutil.rmtree(path)


def _write_run(
    folder: Path,
    plan: SweepPlan,
    run: PlannedRun,
    outcome: RunOutcome,
    provenance: dict[str, Any],
    sign: Callable[[Path], Any] | None = None,
) -> RunRecord:
    """Write one run folder: files first, ``record.json`` last, then its signature
    (``sign(folder)``, if given), then rename into place."""
    tmp = folder / f".{run.run_id}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        for rel, data in outcome.files.items():
            atomic_write_bytes(tmp / rel, data)
        files = {
            rel: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for rel, data in outcome.files.items()
        }
        notebook_name = plan.notebook.name
        if outcome.notebook_json is not None:
            data = outcome.notebook_json.encode("utf-8")
            atomic_write_bytes(tmp / notebook_name, data)
            files[notebook_name] = {  # the executed notebook: signed with the rest
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        metrics, figures = read_metrics_log(tmp)
        prov = {**provenance, **outcome.environment}
        dataset = dict(run.dataset or {})
        recorded = metrics.pop("dataset", None)
        if isinstance(recorded, Mapping):
            dataset.update(recorded)
        elif recorded is not None:
            dataset["name"] = recorded
        prov["dataset"] = dataset or None
        code = run.code_provenance()
        if code is not None:
            prov["code"] = code
        run_record = RunRecord(
            experiment=plan.experiment,
            run_id=run.run_id,
            notebook=notebook_name if outcome.notebook_json is not None else None,
            notebook_sha256=plan.notebook_sha256,
            parameters=run.parameters,
            metrics=metrics,
            figures=figures,
            files=files,
            status=outcome.status,
            error=outcome.error,
            timings=outcome.timings,
            provenance=prov,
        )
        write_record(tmp, run_record)
        if sign is not None:
            sign(tmp)
        replace_folder(tmp, folder / run.run_id)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return run_record


def _run_inputs(run: PlannedRun) -> dict[str, str]:
    """The member code a run needs, shipped with it (workers need not share a disk)."""
    files = {name: code for name, code in run.code.items() if code["kind"] == "file"}
    if not files:
        return {}
    from squad.tasks.member_models import MANIFEST_FILE, model_manifest

    return {MANIFEST_FILE: model_manifest({c["spec"]: c for c in files.values()})}


def _failed_outcome(task: RunTask, err: BaseException) -> RunOutcome:
    error = {
        "ename": type(err).__name__,
        "evalue": str(err) or repr(err),
        "cell_index": None,
        "execution_count": None,
        "source": "",
    }
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    timings = {"queued": task.queued, "start": None, "end": now}
    return RunOutcome(task.run_id, "error", error, None, {}, timings, environment())


def run_sweep(
    notebook: str | os.PathLike[str],
    *,
    grid: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | Sequence[tuple[str, str]] | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
    timeout: float | None = None,
    out: str | os.PathLike[str] = "runs",
    force: bool = False,
    member: str | None = None,
    experiment: str | None = None,
    progress: bool = True,
    dataset_checksum: DatasetLookup | None = default_dataset_checksum,
    executor: Executor | None = None,
    sign: Callable[[Path], Any] | None = None,
) -> SweepResult:
    """Run a notebook over a grid of parameters and record every run.

    Parameters
    ----------
    notebook : path-like
        The notebook.
    grid, params, experiment, dataset_checksum
        See :func:`plan_sweep`.
    jobs : int, optional
        Local worker processes (default: number of CPU cores).
    scheduler : str, optional
        Dask scheduler address; runs then execute on that cluster.
    executor : concurrent.futures.Executor, optional
        Submit runs to this executor (left open) instead of one made from ``jobs`` or
        ``scheduler``; e.g. one :func:`squad.runs.executor.open_sweep_executor`
        shared by several sweeps, whose workers keep their kernels started between
        them.
    timeout : float, optional
        Seconds a run may take (also the limit of each cell); a run over it is
        stopped and recorded with status ``timeout``.
    out : path-like, default="runs"
        Runs go to ``<out>/<experiment>/<run_id>/``.
    force : bool, default=False
        Rerun runs that already have an ``ok`` record (otherwise they are reused).
    member : str, optional
        Member or organisation recorded in the provenance (default: ``SQUAD_MEMBER``).
    progress : bool, default=True
        Show a progress bar on stderr.
    sign : callable, optional
        Called with each new run's folder once its ``record.json`` is written, before
        the folder is moved into place: ``squad run`` passes
        ``functools.partial(squad.board.signing.sign_run, key=...)``, which writes
        ``record.json.sig``. The record lists every file of the run (the executed
        notebook too) with its sha256, so the signature covers them all.

    Returns
    -------
    SweepResult
        ``exit_code`` is 1 if any run failed.

    Raises
    ------
    ValueError, OSError
        On bad parameters or files, before any run starts.
    """
    if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
        msg = f"timeout must be a positive number of seconds; got {timeout!r}."
        raise InvalidInputError(msg)
    if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
        msg = f"jobs must be a positive integer (--jobs N); got {jobs!r}."
        raise InvalidInputError(msg)
    plan = plan_sweep(
        notebook,
        grid=grid,
        params=params,
        experiment=experiment,
        dataset_checksum=dataset_checksum,
    )
    folder = Path(out) / plan.experiment
    result = SweepResult(out_dir=folder)
    _clear_leftovers(folder)
    pending: list[PlannedRun] = []
    for run in plan.runs:
        existing = None if force else _existing_ok(folder / run.run_id)
        if existing is not None:
            result.reused.append(run.run_id)
            result.records[run.run_id] = existing
        else:
            pending.append(run)
    if result.reused:
        logger.info(
            "Reusing %s run(s) with an ok record in %s (use --force to rerun them)",
            len(result.reused),
            folder,
        )
    if not pending:
        return result
    provenance = {
        "git": _git_info(plan.notebook),
        "member": _member(member),
        "squad_version": _squad_version(),
    }
    notebook_json = plan.notebook.read_text("utf-8")
    cwd = str(plan.notebook.resolve().parent)
    by_id = {run.run_id: run for run in pending}
    n_jobs = None if scheduler else min(jobs or os.cpu_count() or 1, len(pending))
    from squad.progress import progress as show_progress

    bar_context = show_progress(
        len(pending), plan.experiment, unit="run", enabled=progress
    )
    if executor is not None:
        runner: contextlib.AbstractContextManager = contextlib.nullcontext(executor)
    else:
        runner = open_sweep_executor(
            jobs=n_jobs, scheduler=scheduler, kernel_name=plan.kernel_name, cwd=cwd
        )
    with bar_context as bar, runner as executor:
        futures = {}
        for run in pending:
            task = RunTask(
                run_id=run.run_id,
                notebook_name=plan.notebook.name,
                notebook_json=notebook_json,
                parameters=run.parameters,
                kernel_name=plan.kernel_name,
                cwd=cwd,
                timeout=timeout,
                queued=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                inputs=_run_inputs(run),
            )
            futures[executor.submit(execute_run, task)] = task
        for future in as_completed(futures):
            task = futures[future]
            try:
                outcome = future.result()
            except Exception as err:  # the worker itself failed, not the notebook
                logger.error("Run %s failed in its worker: %s", task.run_id, err)
                outcome = _failed_outcome(task, err)
            run_record = _write_run(
                folder, plan, by_id[task.run_id], outcome, provenance, sign
            )
            result.records[task.run_id] = run_record
            if outcome.status == "ok":
                result.ok.append(task.run_id)
            else:
                result.failed.append(task.run_id)
            bar.step(
                f"{task.run_id} {outcome.status}",
                ok=len(result.ok),
                failed=len(result.failed),
                reused=len(result.reused),
            )
    return result


def _squad_version() -> str:
    from squad import __version__

    return __version__
