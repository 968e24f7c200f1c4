"""Tests for parameters, grids, run ids and sweeps (squad.runs.params, squad.runs.sweep)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbformat.v4 import new_code_cell, new_notebook

from squad.cli import main
from squad.records import read_record
from squad.runs.checks import clear_inapplicable
from squad.runs.executor import analyse_notebook
from squad.runs.params import (
    Parameter,
    expand_grid,
    notebook_parameters,
    parse_value,
    read_grid,
    resolve_parameters,
)
from squad.runs.plan import make_run_id, notebook_sha256, plan_sweep
from squad.runs.sweep import run_sweep
from tests.support.waiting import wait_until

DATA = Path(__file__).parents[1] / "fixtures" / "notebooks"
CODING = Path(__file__).resolve().parents[2] / "notebooks" / "coding.ipynb"
SQUAD = Path(sys.executable).with_name("squad")


def _notebook(tmp_path: Path, source: str, name: str = "nb.ipynb") -> Path:
    cell = new_code_cell(source)
    cell.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[new_code_cell("import squad"), cell])
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def _copy(name: str, tmp_path: Path) -> Path:
    target = tmp_path / f"{name}.ipynb"
    shutil.copy(DATA / f"{name}.ipynb", target)
    return target


# ---------------------------------------------------------------- parameters cell


def test_notebook_parameters_reads_types_defaults_and_help(tmp_path):
    """Each `name: type = default  # help` line becomes a Parameter."""
    path = _notebook(
        tmp_path,
        'dataset: str = "soc2010"  # which data\n'
        "C: float = 1  # strength\n"
        "seed: int = 0\n"
        "fit: bool = True\n"
        'cols: list[str] = ["title"]\n'
        'opts: dict = {"a": 1}\n'
        "limit: int | None = None  # optional cap\n"
        "untyped = 3",
    )
    params = notebook_parameters(path)
    assert list(params) == [
        "dataset",
        "C",
        "seed",
        "fit",
        "cols",
        "opts",
        "limit",
        "untyped",
    ]
    assert params["dataset"] == Parameter("dataset", "str", "soc2010", "which data")
    assert params["C"].type == "float" and params["C"].default == 1.0
    assert isinstance(params["C"].default, float)
    assert params["cols"].type == "list" and params["cols"].default == ["title"]
    assert params["opts"].type == "dict"
    assert params["limit"].nullable and params["limit"].type == "int"
    assert params["untyped"].type == "int" and params["untyped"].help == ""


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("import os", r"line 1 \('import os'\) is not of the form"),
        ("when: Path = None", r"unsupported type: use one of int, float"),
        (
            "n: int = 2 * 3",
            r"Parameter 'n' has a default that is not a literal \(2 \* 3\)",
        ),
        ("n: int", r"Parameter 'n' has no default"),
        (
            'n: int = "three"',
            r"Parameter 'n' must be int; got 'three' \(str\) \(default\)",
        ),
        ("n: int = (", r"not valid Python"),
    ],
)
def test_notebook_parameters_rejects_bad_cells(tmp_path, source, match):
    """A parameters cell that is not typed literal assignments is rejected."""
    with pytest.raises(ValueError, match=match):
        notebook_parameters(_notebook(tmp_path, source))


def test_notebook_parameters_rejects_two_parameter_cells():
    """Exactly one cell may carry the parameters tag."""
    cells = [new_code_cell("a = 1"), new_code_cell("b = 2")]
    for cell in cells:
        cell.metadata["tags"] = ["parameters"]
    with pytest.raises(ValueError, match="2 cells tagged 'parameters'"):
        notebook_parameters(new_notebook(cells=cells))


def test_notebook_parameters_missing_file(tmp_path):
    """A missing notebook is an OSError naming the path."""
    with pytest.raises(FileNotFoundError, match=r"nope\.ipynb does not exist"):
        notebook_parameters(tmp_path / "nope.ipynb")


# ---------------------------------------------------------------- validation

DECLARED = {
    "seed": Parameter("seed", "int", 0),
    "C": Parameter("C", "float", 1.0),
    "model": Parameter("model", "str", "lookup"),
    "fit": Parameter("fit", "bool", True),
    "cols": Parameter("cols", "list", ["title"]),
    "opts": Parameter("opts", "dict", {}),
    "limit": Parameter("limit", "int", None, nullable=True),
}


@pytest.mark.parametrize(
    ("values", "match"),
    [
        (
            {"sede": 1},
            r"Unknown parameter 'sede' \(grid\)\. The notebook declares: seed, C, ",
        ),
        ({"seed": "1"}, r"Parameter 'seed' must be int; got '1' \(str\) \(grid\)"),
        ({"seed": True}, r"Parameter 'seed' must be int; got True \(bool\)"),
        ({"seed": 1.5}, r"Parameter 'seed' must be int; got 1\.5 \(float\)"),
        ({"C": "x"}, r"Parameter 'C' must be float; got 'x'"),
        ({"fit": 1}, r"Parameter 'fit' must be bool; got 1 \(int\)"),
        (
            {"cols": ("a", "b")},
            r"Parameter 'cols' must be list; got \('a', 'b'\) \(tuple\)",
        ),
        (
            {"cols": [(1, 2)]},
            r"Parameter 'cols' got \[\(1, 2\)\] \(grid\), which is not JSON",
        ),
        (
            {"opts": {1: "a"}},
            r"Parameter 'opts' got \{1: 'a'\} \(grid\), which is not JSON",
        ),
        ({"C": float("nan")}, r"Parameter 'C' got nan \(grid\), which is not JSON"),
        ({"model": None}, r"Parameter 'model' must be str; got None"),
        ({"limit": "5"}, r"Parameter 'limit' must be int or None; got '5'"),
    ],
)
def test_resolve_parameters_rejects_bad_values(values, match):
    """Unknown names and wrongly typed or non-JSON values are rejected with a message."""
    with pytest.raises(ValueError, match=match):
        resolve_parameters(values, DECLARED, where="grid")


def test_resolve_parameters_fills_defaults_and_normalises_floats():
    """Defaults fill missing names; an int for a float becomes a float."""
    resolved = resolve_parameters({"C": 2, "limit": None, "cols": []}, DECLARED)
    assert resolved == {
        "seed": 0,
        "C": 2.0,
        "model": "lookup",
        "fit": True,
        "cols": [],
        "opts": {},
        "limit": None,
    }
    assert isinstance(resolved["C"], float)


@pytest.mark.parametrize(
    ("text", "param", "expected"),
    [
        ("3", None, 3),
        ("0.25", None, 0.25),
        ("true", None, True),
        ("[1, 2]", None, [1, 2]),
        ("{a: 1}", None, {"a": 1}),
        ("soc2010", None, "soc2010"),
        ("0123", None, 123),
        ("0123", Parameter("code", "str", ""), "0123"),
        ("yes", Parameter("answer", "str", ""), "yes"),
    ],
)
def test_parse_value_reads_yaml_scalars(text, param, expected):
    """Command-line values are YAML, except for str parameters which stay text."""
    assert parse_value(text, param) == expected


def test_parse_value_rejects_bad_yaml():
    """Text that is not YAML is a ValueError naming the value."""
    with pytest.raises(
        ValueError, match=r"Value '\[1, 2' for 'cols' is not a valid YAML"
    ):
        parse_value("[1, 2", Parameter("cols", "list", []))


# ---------------------------------------------------------------- grids


def test_expand_grid_products_then_runs_on_top_of_base():
    """The grid's product comes first, then explicit runs; base applies to all."""
    runs = expand_grid(
        {
            "base": {"dataset": "soc2010", "seed": 0},
            "grid": [{"model": ["a", "b"], "seed": [1, 2]}, {"model": ["c"]}],
            "runs": [{"model": "d", "C": 0.5}],
        }
    )
    assert runs == [
        {"dataset": "soc2010", "seed": 1, "model": "a"},
        {"dataset": "soc2010", "seed": 2, "model": "a"},
        {"dataset": "soc2010", "seed": 1, "model": "b"},
        {"dataset": "soc2010", "seed": 2, "model": "b"},
        {"dataset": "soc2010", "seed": 0, "model": "c"},
        {"dataset": "soc2010", "seed": 0, "model": "d", "C": 0.5},
    ]
    assert expand_grid({"base": {"seed": 3}}) == [{"seed": 3}]
    assert expand_grid({}) == [{}]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"grids": {}}, r"unknown key 'grids'; use base, grid and/or runs"),
        (
            {"grid": {"seed": 1}},
            r"grid value of 'seed' must be a non-empty list; got 1",
        ),
        ({"grid": {"seed": []}}, r"grid value of 'seed' must be a non-empty list"),
        ({"grid": "seed"}, r"'grid' must be a mapping"),
        ({"runs": {"seed": 1}}, r"'runs' must be a list of mappings"),
        ({"runs": [1]}, r"each item of 'runs' must be a mapping"),
        ({"base": [1]}, r"'base' must be a mapping"),
        (["seed"], r"must be a mapping with keys base, grid and/or runs"),
    ],
)
def test_expand_grid_rejects_bad_specs(spec, match):
    """Malformed grid files are rejected with a message naming the problem."""
    with pytest.raises(ValueError, match=match):
        expand_grid(spec, source="g.yml")


def test_read_grid_errors_name_the_file(tmp_path):
    """Missing and invalid grid files are reported with their path."""
    with pytest.raises(
        FileNotFoundError, match=r"Grid file .*missing\.yml does not exist"
    ):
        read_grid(tmp_path / "missing.yml")
    bad = tmp_path / "bad.grid.yml"
    bad.write_text("grid: [unclosed\n")
    with pytest.raises(ValueError, match=r"bad\.grid\.yml is not valid YAML"):
        read_grid(bad)


# ---------------------------------------------------------------- run ids and plans


def test_run_ids_are_stable_and_distinct(tmp_path):
    """Same notebook, parameters and data give the same id; any change gives another."""
    path = _copy("ok", tmp_path)
    grid = {"grid": {"x": [1, 2], "label": ["a", "b"]}}
    first = plan_sweep(path, grid=grid, dataset_checksum=None)
    again = plan_sweep(path, grid={"grid": {"label": ["a", "b"], "x": [1, 2]}})
    ids = [run.run_id for run in first.runs]
    assert len(set(ids)) == 4
    assert sorted(ids) == sorted(run.run_id for run in again.runs)
    assert all(len(i) == 12 and int(i, 16) >= 0 for i in ids)
    # The executed copy of a notebook (outputs, counts, injected cell) hashes the same.
    nb = nbformat.read(path, as_version=4)
    executed = nbformat.read(path, as_version=4)
    injected = new_code_cell("x = 2")
    injected.metadata["tags"] = ["injected-parameters"]
    executed.cells.insert(3, injected)
    executed.cells[1].execution_count = 7
    executed.cells[1].outputs = [nbformat.v4.new_output("stream", text="hi")]
    assert notebook_sha256(executed) == notebook_sha256(nb)
    # A changed cell, parameter or dataset checksum changes the id.
    params = first.runs[0].parameters
    base = make_run_id(first.notebook_sha256, params, None)
    assert base == first.runs[0].run_id
    assert make_run_id(first.notebook_sha256, {**params, "scale": 2.0}, None) != base
    assert make_run_id(first.notebook_sha256, params, "f" * 64) != base
    nb.cells[3].source += "\n"
    assert notebook_sha256(nb) != first.notebook_sha256


def test_plan_sweep_defaults_int_for_float_and_duplicates(tmp_path):
    """Defaults fill in, 1 and 1.0 are one run, and identical runs are kept once."""
    path = _copy("ok", tmp_path)
    plan = plan_sweep(path, grid={"runs": [{"scale": 1}, {"scale": 1.0}, {}]})
    assert len(plan.runs) == 1
    assert plan.runs[0].parameters == {"x": 1, "scale": 1.0, "label": "a"}
    assert plan.experiment == "ok" and plan.kernel_name == "python3"


def test_plan_sweep_uses_grid_beside_notebook_without_params(tmp_path):
    """<stem>.grid.yml is the default grid when no -p value is given."""
    path = _copy("ok", tmp_path)
    (tmp_path / "ok.grid.yml").write_text("grid:\n  x: [1, 2, 3]\n")
    plan = plan_sweep(path)
    assert [r.parameters["x"] for r in plan.runs] == [1, 2, 3]


@pytest.mark.parametrize(
    ("params", "grid", "expected"),
    [
        # -p alone: one configuration, the notebook's defaults plus the values given,
        # even with a grid file beside the notebook.
        ([("label", "007"), ("scale", "2")], None, [(1, 2.0, "007")]),
        ({"x": 5}, None, [(5, 1.0, "a")]),
        # A repeated name sweeps over its values (repeats kept once).
        ([("x", "1"), ("x", "2"), ("x", "2")], None, [(1, 1.0, "a"), (2, 1.0, "a")]),
        (
            [("x", "1"), ("x", "2"), ("label", "b"), ("label", "c")],
            None,
            [(1, 1.0, "b"), (1, 1.0, "c"), (2, 1.0, "b"), (2, 1.0, "c")],
        ),
        # With --grid, -p values are fixed across the grid ...
        ([("label", "z")], "grid", [(x, 1.0, "z") for x in (1, 2, 3)]),
        # ... and a repeated one multiplies it.
        (
            [("scale", "2"), ("scale", "3")],
            "grid",
            [(x, s, "a") for x in (1, 2, 3) for s in (2.0, 3.0)],
        ),
        # Fixing the varied parameter collapses the grid to one run.
        ({"x": 5}, "grid", [(5, 1.0, "a")]),
        # Exponents without a decimal point are numbers (YAML 1.1 reads them as text).
        (
            [("scale", "1e-5"), ("scale", "2E3")],
            None,
            [(1, 1e-5, "a"), (1, 2000.0, "a")],
        ),
    ],
)
def test_plan_sweep_params_semantics(tmp_path, params, grid, expected):
    """-p alone is one run; repeated names sweep; with --grid, -p fixes values."""
    path = _copy("ok", tmp_path)
    grid_file = tmp_path / "ok.grid.yml"
    grid_file.write_text("grid:\n  x: [1, 2, 3]\n")
    plan = plan_sweep(path, params=params, grid=grid_file if grid else None)
    got = [
        (r.parameters["x"], r.parameters["scale"], r.parameters["label"])
        for r in plan.runs
    ]
    assert got == expected


def test_repeated_values_that_differ_as_number_and_boolean_are_two_runs(tmp_path):
    """-p settings '{alpha: 1}' -p settings '{alpha: true}' plans two runs (True == 1)."""
    path = tmp_path / "member_model.ipynb"
    shutil.copy(Path(__file__).parents[1] / "fixtures" / "notebooks" / path.name, path)
    plan = plan_sweep(
        path,
        params=[
            ("settings", "{alpha: 1}"),
            ("settings", "{alpha: true}"),
            ("settings", "{alpha: 1}"),
        ],
    )
    assert [r.parameters["settings"] for r in plan.runs] == [
        {"alpha": 1},
        {"alpha": True},
    ]
    assert [type(r.parameters["settings"]["alpha"]) for r in plan.runs] == [int, bool]


def test_plan_sweep_validates_every_run_before_running(tmp_path):
    """A typo in a grid file is reported with the run number and the declared names."""
    path = _copy("ok", tmp_path)
    grid = tmp_path / "typo.grid.yml"
    grid.write_text("runs:\n  - {x: 1}\n  - {xx: 2}\n")
    with pytest.raises(
        ValueError,
        match=r"Unknown parameter 'xx' \(grid file .*typo\.grid\.yml, run 2\)\. The notebook declares: x, scale, label\.",
    ):
        plan_sweep(path, grid=grid)
    with pytest.raises(
        ValueError,
        match=r"Parameter 'x' must be int; got 'one' \(str\) \(given with -p\)",
    ):
        plan_sweep(path, params=[("x", "one")])


def test_plan_sweep_dataset_checksum_is_pluggable(tmp_path):
    """A `dataset` parameter's checksum enters the run id and the run's dataset info."""
    path = _notebook(tmp_path, 'dataset: str = "alpha"\nprotocol: str = "p1"')
    seen = []

    def lookup(name):
        seen.append(name)
        return {"alpha": "a" * 64, "beta": "b" * 64}[name]

    plan = plan_sweep(
        path,
        grid={"grid": {"dataset": ["alpha", "beta", "alpha"]}},
        dataset_checksum=lookup,
    )
    assert seen == ["alpha", "beta"]  # looked up once per dataset
    assert [r.dataset for r in plan.runs] == [
        {"name": "alpha", "sha256": "a" * 64, "protocol": "p1"},
        {"name": "beta", "sha256": "b" * 64, "protocol": "p1"},
    ]
    unchecked = plan_sweep(path, dataset_checksum=None)
    assert unchecked.runs[0].run_id != plan.runs[0].run_id
    with pytest.raises(KeyError):
        plan_sweep(path, params={"dataset": "gamma"}, dataset_checksum=lookup)


def test_analyse_notebook_sys_exit_is_an_error():
    """A SystemExit output, even sys.exit(0), makes the run an error."""
    cell = new_code_cell("import sys; sys.exit(0)", execution_count=1)
    cell.outputs = [
        nbformat.v4.new_output("error", ename="SystemExit", evalue="0", traceback=[])
    ]
    nb = new_notebook(cells=[cell, new_code_cell("x = 1")])
    status, error = analyse_notebook(nb)
    assert status == "error"
    assert error["ename"] == "SystemExit" and error["cell_index"] == 0
    assert "ended the notebook early" in error["evalue"]


# ---------------------------------------------------------------- CLI errors


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-p", "sclae", "2"],
            "Error: Unknown parameter 'sclae' (given with -p). The notebook declares: x, scale, label.",
        ),
        (
            ["-p", "x", "1.5"],
            "Error: Parameter 'x' must be int; got 1.5 (float) (given with -p).",
        ),
        (["--jobs", "0"], "Error: jobs must be a positive integer (--jobs N); got 0."),
        (
            ["--timeout", "-1"],
            "Error: timeout must be a positive number of seconds; got -1.0.",
        ),
    ],
)
def test_cli_run_rejects_bad_input_in_one_line(tmp_path, args, message):
    """Bad parameters stop `squad run` before any run, with one line and status 2."""
    path = _copy("ok", tmp_path)
    result = CliRunner().invoke(
        main, ["run", str(path), "--out", str(tmp_path / "runs"), *args]
    )
    assert result.exit_code == 2
    assert result.output.strip() == message
    assert not (tmp_path / "runs").exists()


def test_cli_run_missing_notebook(tmp_path):
    """A missing notebook is one line naming it."""
    result = CliRunner().invoke(main, ["run", str(tmp_path / "gone.ipynb")])
    assert result.exit_code == 2
    assert "gone.ipynb does not exist" in result.output
    assert result.output.count("\n") == 1
    assert isinstance(result.exception, SystemExit)  # handled, not a crash


def test_a_language_that_does_not_apply_is_none_and_not_in_the_run_id():
    """soc2010 has no languages: its runs record language as None, not the notebook's
    'pl', and -p language en plans the same run; ecoicop's languages stay apart."""
    soc = plan_sweep(CODING, params=[("language", "en")], dataset_checksum=None)
    default = plan_sweep(
        CODING, params={"model": "complement_nb"}, dataset_checksum=None
    )
    assert soc.runs[0].parameters["language"] is None
    assert soc.runs[0].run_id == default.runs[0].run_id
    both = plan_sweep(
        CODING,
        params=[("language", "en"), ("language", "pl")],
        dataset_checksum=None,
    )
    assert [r.run_id for r in both.runs] == [soc.runs[0].run_id]
    eco = plan_sweep(
        CODING,
        params=[("dataset", "ecoicop"), ("language", "en"), ("language", "pl")],
        dataset_checksum=None,
    )
    assert [r.parameters["language"] for r in eco.runs] == ["en", "pl"]
    with pytest.raises(
        ValueError,
        match=r"^Dataset 'ecoicop' needs a language; got None \(given with -p\)\. "
        r"Its card lists: pl, en, ",
    ):
        plan_sweep(
            CODING,
            params={"dataset": "ecoicop", "language": None},
            dataset_checksum=None,
        )


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"dataset": "soc2010", "language": "pl"}, None),
        ({"dataset": "soc2010", "language": None}, None),
        ({"dataset": "ecoicop", "language": "en"}, "en"),
        # Only coding datasets: another notebook's language may mean something else.
        ({"dataset": "lfs_synthetic", "language": "fr"}, "fr"),
        ({"dataset": "no_such_dataset", "language": "fr"}, "fr"),
        ({"language": "fr"}, "fr"),
    ],
)
def test_clear_inapplicable_sets_a_language_without_languages_to_none(
    parameters, expected
):
    """The language of a classification dataset whose card lists none is None."""
    assert clear_inapplicable(parameters)["language"] == expected


# ---------------------------------------------------------------- real sweeps


@pytest.mark.slow
def test_a_soc2010_run_records_no_language(tmp_path):
    """The coding notebook runs on soc2010 with language None, and its record and its
    dataset provenance say None, not the notebook's 'pl'."""
    result = run_sweep(
        CODING,
        params=[("model", "complement_nb"), ("language", "en")],
        jobs=1,
        out=tmp_path / "runs",
        member="ons",
        progress=False,
    )
    assert result.exit_code == 0, result.summary()
    rec = read_record(tmp_path / "runs" / "coding" / result.ok[0])
    assert rec.parameters["language"] is None
    assert rec.provenance["dataset"]["language"] is None


@pytest.mark.slow
def test_sweep_records_failures_timeouts_exits_and_crashes(tmp_path):
    """One sweep: ok runs succeed; failing, timing-out, exiting and crashing runs are recorded."""
    path = _copy("modes", tmp_path)
    (tmp_path / "modes.grid.yml").write_text(
        "runs:\n"
        "  - {mode: ok}\n"
        "  - {mode: fail}\n"
        "  - {mode: sleep}\n"
        "  - {mode: exit}\n"
        "  - {mode: crash}\n"
        "  - {mode: ok, x: 4}\n"
    )
    out = tmp_path / "runs"
    result = CliRunner().invoke(
        main,
        [
            "run",
            str(path),
            "--jobs",
            "2",
            # The limit counts from the first cell (kernel start excluded): the ok runs'
            # cells take well under a second even on a busy machine; the sleeping run
            # needs 60 s.
            "--timeout",
            "8",
            "--out",
            str(out),
            "--member",
            "statcan",
            "--no-progress",
        ],
    )
    assert result.exit_code == 1, result.output
    assert (
        result.output.splitlines()[0] == f"2 ok, 4 failed, 0 reused -> {out / 'modes'}"
    )
    records = {}
    for folder in (out / "modes").iterdir():
        rec = read_record(folder)
        assert rec.run_id == folder.name
        records[rec.parameters["mode"], rec.parameters["x"]] = rec
    assert len(records) == 6
    status = {key: rec.status for key, rec in records.items()}
    assert status == {
        ("ok", 1): "ok",
        ("ok", 4): "ok",
        ("fail", 1): "error",
        ("sleep", 1): "timeout",
        ("exit", 1): "error",
        ("crash", 1): "kernel_died",
    }
    ok = records["ok", 4]
    assert ok.metrics == {"started": "ok", "accuracy": 0.4}
    assert ok.error is None and ok.provenance["member"] == "statcan"
    assert ok.provenance["git"] is None  # the copy is outside any repository
    assert (
        ok.provenance["python"]
        == f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"
    )
    assert "papermill" in ok.provenance["packages"]
    timings = ok.timings
    assert timings["queued"] <= timings["start"] <= timings["end"]
    assert (
        timings["cells_seconds"] > 0
        and timings["total_seconds"] >= timings["cells_seconds"]
    )
    executed = nbformat.read(out / "modes" / ok.run_id / "modes.ipynb", as_version=4)
    assert all(c.execution_count for c in executed.cells if c.cell_type == "code")
    fail = records["fail", 1].error
    assert (fail["ename"], fail["evalue"]) == (
        "ValueError",
        "deliberate failure for x=1",
    )
    assert fail["cell_index"] == 5 and "raise ValueError" in fail["source"]
    assert records["exit", 1].error["ename"] == "SystemExit"
    assert records["sleep", 1].error["cell_index"] == 5
    assert records["crash", 1].error["ename"] == "DeadKernelError"
    # Runs recorded what they managed before failing.
    assert records["fail", 1].metrics == {"started": "fail"}
    assert (
        f"{records['fail', 1].run_id} error: ValueError: deliberate failure"
        in result.output
    )


@pytest.mark.slow
def test_sweep_resumes_after_the_runner_is_killed(tmp_path):
    """Killing `squad run` loses no finished run and leaves no half-written one."""
    gate = tmp_path / "gate"
    path = _notebook(
        tmp_path,
        f"seed: int = 0  # seed\ngate: str = {str(gate)!r}  # file the later runs wait for",
        name="gated.ipynb",
    )
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    # The first run finishes; the others wait for the gate file, so the runner is
    # killed while exactly one run is done and another is half-way.
    nb.cells.append(
        new_code_cell(
            "import pathlib, time\n"
            "while seed > 0 and not pathlib.Path(gate).exists():\n"
            "    time.sleep(0.05)\n"
            "squad.record('seed', seed)"
        )
    )
    nbformat.write(nb, path)
    (tmp_path / "gated.grid.yml").write_text("grid:\n  seed: [0, 1, 2]\n")
    out = tmp_path / "runs"
    cmd = [str(SQUAD), "run", str(path), "--jobs", "1", "--out", str(out)]
    proc = subprocess.Popen(
        [*cmd, "--no-progress"],
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    records = out / "gated"
    try:
        finished = wait_until(
            lambda: proc.poll() is not None or any(records.glob("*/record.json")),
            timeout=300,
        )
        assert finished and proc.poll() is None, proc.stdout.read().decode()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the runner and its workers
        proc.wait()
        proc.stdout.close()
    visible = [p for p in records.iterdir() if not p.name.startswith(".")]
    assert len(visible) == 1, visible
    done = read_record(visible[0])
    assert done.status == "ok" and done.parameters["seed"] == 0
    assert (visible[0] / "gated.ipynb").is_file()

    gate.touch()
    again = subprocess.run(
        [*cmd, "--jobs", "2"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "2 ok, 0 failed, 1 reused" in again.stdout
    assert "Reused" in again.stdout
    # Not a terminal: one progress line per finished run, no redrawn bar.
    lines = [line for line in again.stderr.splitlines() if "] gated: " in line]
    assert [line[:5] for line in lines] == ["[1/2]", "[2/2]"], again.stderr
    assert all(" ok (ok=" in line for line in lines) and "\r" not in again.stderr
    finished = {p.name for p in records.iterdir() if not p.name.startswith(".")}
    assert visible[0].name in finished and len(finished) == 3
    # Reused, not rerun: the record from before the kill.
    again_done = read_record(visible[0])
    assert again_done.timings["end"] == done.timings["end"]


def _idle_kernels() -> int:
    from squad.kernels.prestart import _PRESTARTERS

    prestarter = _PRESTARTERS.get("sweep")
    return 0 if prestarter is None else prestarter.n_waiting


@pytest.mark.slow
def test_sweep_on_a_dask_cluster(tmp_path):
    """The same runs execute on a real local Dask scheduler with two worker processes."""
    distributed = pytest.importorskip("distributed")
    path = DATA / "small.ipynb"  # in place: its git provenance is the kit's own
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        result = run_sweep(
            path,
            grid={"grid": {"seed": [0, 1, 2]}},
            scheduler=cluster.scheduler_address,
            out=tmp_path / "runs",
            progress=False,
        )
        with distributed.Client(cluster) as client:
            idle = client.run(_idle_kernels)
    assert result.exit_code == 0 and len(result.ok) == 3
    # The runs went through the Dask workers: each keeps its next kernel started.
    assert sum(idle.values()) >= 1
    totals = set()
    for run_id in result.ok:
        rec = read_record(tmp_path / "runs" / "small" / run_id)
        assert rec.status == "ok"
        totals.add(rec.metrics["total"])
    assert len(totals) == 3  # three seeds, three different sums
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=DATA, capture_output=True, text=True
    )
    git = rec.provenance["git"]
    if head.returncode == 0:
        assert git["commit"] == head.stdout.strip()
        assert git["notebook"] == "tests/fixtures/notebooks/small.ipynb"
        assert isinstance(git["dirty"], bool)
    else:
        assert git is None
    # Same runs locally: same ids, reused.
    local = run_sweep(
        path, grid={"grid": {"seed": [0, 1, 2]}}, out=tmp_path / "runs", progress=False
    )
    assert sorted(local.reused) == sorted(result.ok)
