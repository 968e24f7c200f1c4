"""The README's `squad run` examples do what they say (squad run's -p semantics)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from squad.cli import main
from squad.records import read_record

ROOT = Path(__file__).resolve().parents[2]
SQUAD = Path(sys.executable).with_name("squad")

#: Every `squad run` line of the README and the number of runs it stands for.
RUNS = {
    "squad run notebooks/coding.ipynb": 15,
    "squad run notebooks/coding.ipynb -p dataset ecoicop -p model tfidf_linear_svc": 1,
    "squad run notebooks/coding.ipynb -p model lookup -p model complement_nb --dry-run": 2,
    "squad run notebooks/imputation.ipynb --jobs 2": 5,
    "squad run notebooks/coding.ipynb --scheduler tcp://10.0.0.5:8786": 15,
    "squad run notebooks/coding.ipynb -p dataset ecoicop -p model notebooks/my_coder.py:make_coder": 1,
}


def _examples() -> list[str]:
    """The `squad run` command lines in the README's bash blocks, comments dropped."""
    lines, in_bash = [], False
    for line in (ROOT / "README.md").read_text("utf-8").splitlines():
        if line.startswith("```"):
            in_bash = line.strip() == "```bash"
            continue
        if in_bash and line.startswith("squad run "):
            lines.append(shlex.join(shlex.split(line, comments=True)))
    return lines


EXAMPLES = _examples()


def test_readme_examples_are_all_known():
    """Each README example has its expected number of runs here, and none is gone."""
    assert sorted(EXAMPLES) == sorted(RUNS)


@pytest.mark.parametrize("line", EXAMPLES)
def test_readme_example_plans_its_runs(line, tmp_path, monkeypatch):
    """Every example passes every check before a run starts, with the runs it says."""
    monkeypatch.chdir(ROOT)
    args = shlex.split(line)[2:]
    if "--dry-run" not in args:
        args.append("--dry-run")
    result = CliRunner().invoke(main, ["run", *args, "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    planned = re.search(
        r"^(\d+) run\(s\) of \w+ planned; none started\.$", result.output, re.M
    )
    assert planned is not None, result.output
    assert int(planned.group(1)) == RUNS[line]
    assert not (tmp_path / "runs").exists()


SINGLE = [line for line in EXAMPLES if RUNS.get(line) == 1 and "--dry-run" not in line]


@pytest.mark.slow
@pytest.mark.parametrize("line", SINGLE)
def test_readme_single_run_example_runs_green(line, tmp_path):
    """The README's one-configuration examples run as written, ok and exit status 0."""
    args = shlex.split(line)[1:]
    done = subprocess.run(
        [str(SQUAD), *args, "--out", str(tmp_path / "runs"), "--no-progress"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("1 ok, 0 failed, 0 reused"), done.stdout
    (folder,) = (tmp_path / "runs" / "coding").iterdir()
    rec = read_record(folder)
    # Every coding run records its speed and the hardware it was measured on.
    for name in ("fit_seconds", "predict_seconds", "records_per_second"):
        assert rec.metrics[name] > 0, name
    assert rec.provenance["cpu_count"] >= 1
    n_test = rec.provenance["dataset"]["n_test"]
    assert rec.metrics["records_per_second"] == pytest.approx(
        n_test / rec.metrics["predict_seconds"], rel=0.05
    )
