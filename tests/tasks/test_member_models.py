"""Tests for members' own models (squad.tasks.member_models) in plans and sweeps."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from squad.cli import main
from squad.records import read_record
from squad.runs.plan import plan_sweep
from squad.runs.sweep import run_sweep
from squad.tasks.member_models import MANIFEST_FILE, model_manifest
from squad.tasks.registry import (
    check_model,
    make_model,
    member_factory,
    resolve_model,
)

DATA = Path(__file__).parents[1] / "fixtures" / "notebooks"

#: A member's coder: complement naive Bayes over words, tagged with a version number.
GOOD = """
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import Pipeline


class Coder(Pipeline):
    version = VERSION


def make(seed=0, alpha=1.0, **_):
    return Coder([("words", TfidfVectorizer()), ("nb", ComplementNB(alpha=alpha))])
"""


def _coder(folder: Path, version: int = 1, name: str = "coder.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(GOOD.replace("VERSION", str(version)))
    return path


def _notebook(tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    target = tmp_path / "member_model.ipynb"
    shutil.copy(DATA / "member_model.ipynb", target)
    return target


BAD = {
    "no_predict_proba": (
        "class Coder:\n    def fit(self, X, y):\n        return self\n"
        "def make(seed=0):\n    return Coder()\n",
        r"the factory's Coder has no predict_proba; a model needs fit, predict_proba",
    ),
    "nothing": (
        "def make(seed=0):\n    return object()\n",
        r"has no fit and no predict_proba",
    ),
    "no_classes": (
        "import numpy as np\nclass Coder:\n    def fit(self, X, y):\n        return self\n"
        "    def predict_proba(self, X):\n        return np.ones((len(X), 2)) / 2\n"
        "def make(seed=0):\n    return Coder()\n",
        r"has no classes_ after fit",
    ),
    "bad_shape": (
        "import numpy as np\nclass Coder:\n    def fit(self, X, y):\n"
        "        self.classes_ = np.unique(y)\n        return self\n"
        "    def predict_proba(self, X):\n        return np.ones((len(X), 2)) / 2\n"
        "def make(seed=0):\n    return Coder()\n",
        r"predict_proba of 4 texts has shape \(4, 2\); it must be \(4, len\(classes_\)\) = \(4, 3\)",
    ),
    "no_factory": (
        "def other(seed=0):\n    return None\n",
        r"has no function 'make'; it defines: other",
    ),
    "syntax": ("def make(:\n", r"failed to load: SyntaxError"),
    "exits_on_import": ("import sys\nsys.exit(0)\n", r"failed to load: SystemExit: 0"),
    "exits_in_factory": (
        "import sys\ndef make(seed=0):\n    sys.exit(3)\n",
        r"factory\(seed=0, \*\*\{\}\) raised SystemExit: 3",
    ),
    "proba_raises": (
        "import numpy as np\nclass Coder:\n    def fit(self, X, y):\n"
        "        self.classes_ = np.unique(y)\n        return self\n"
        "    def predict_proba(self, X):\n        raise RuntimeError('not yet')\n"
        "def make(seed=0):\n    return Coder()\n",
        r"predict_proba on 4 toy texts raised RuntimeError: not yet",
    ),
    "proba_not_numbers": (
        "class Coder:\n    def fit(self, X, y):\n"
        "        self.classes_ = sorted(set(y))\n        return self\n"
        "    def predict_proba(self, X):\n        return [['a'] * 3 for _ in X]\n"
        "def make(seed=0):\n    return Coder()\n",
        r"predict_proba on 4 toy texts raised ValueError",
    ),
    "classes_not_a_sequence": (
        "class Coder:\n    def fit(self, X, y):\n        self.classes_ = 3\n"
        "        return self\n    def predict_proba(self, X):\n        return []\n"
        "def make(seed=0):\n    return Coder()\n",
        r"classes_ is a int, not a sequence of codes",
    ),
    "raises": (
        "def make(seed=0):\n    raise RuntimeError('no GPU here')\n",
        r"factory\(seed=0, \*\*\{\}\) raised RuntimeError: no GPU here",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_check_model_refuses_a_bad_factory(tmp_path, case):
    """A factory that does not build a usable model is refused, naming what is missing."""
    source, message = BAD[case]
    (tmp_path / "bad.py").write_text(source)
    with pytest.raises(ValueError, match=message):
        check_model("bad.py:make", base_dir=tmp_path)


@pytest.mark.parametrize(
    ("model", "error", "message"),
    [
        ("missing.py:make", FileNotFoundError, r"missing\.py does not exist"),
        ("coder:make", ValueError, r"neither a registered name nor of the form"),
        ("coder.py:2make", ValueError, r"neither a registered name nor of the form"),
        ("tfidf_lienar_svc", ValueError, r"Unknown model 'tfidf_lienar_svc'"),
    ],
)
def test_resolve_model_refuses_unknown_models(tmp_path, model, error, message):
    """Unknown names, malformed specs and missing files are refused."""
    with pytest.raises(error, match=message):
        resolve_model(model, base_dir=tmp_path)


def test_cli_run_refuses_a_bad_model_before_any_run(tmp_path, monkeypatch):
    """`squad run` stops on a broken factory with one line and status 2, running nothing."""
    source, _ = BAD["no_predict_proba"]
    (tmp_path / "bad.py").write_text(source)
    monkeypatch.chdir(tmp_path)
    notebook = _notebook(tmp_path)
    result = CliRunner().invoke(
        main, ["run", str(notebook), "-p", "model", "bad.py:make", "--out", "runs"]
    )
    assert result.exit_code == 2
    assert result.output.startswith("Error: Model 'bad.py:make' (given with -p): ")
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


#: A member's coder whose factory names its settings (no **kwargs).
STRICT = GOOD.replace(
    "def make(seed=0, alpha=1.0, **_):", "def make(seed=0, alpha=1.0):"
)


def _entry_point(
    tmp_path: Path, monkeypatch, source: str, package: str = "acme_coders"
) -> None:
    """Install a package `<package>` 1.4 whose `squad.models` entry point is `acme`."""
    site = tmp_path / "site"
    (site / package).mkdir(parents=True)
    (site / package / "__init__.py").write_text(source.replace("VERSION", "3"))
    info = site / f"{package}-1.4.dist-info"
    info.mkdir()
    name = package.replace("_", "-")
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.4\n"
    )
    (info / "entry_points.txt").write_text(f"[squad.models]\nacme = {package}:make\n")
    monkeypatch.syspath_prepend(str(site))


def test_check_model_refuses_settings_a_member_factory_does_not_name(
    tmp_path, monkeypatch
):
    """A file's or an entry point's factory is checked against its signature before it
    is called; one taking **kwargs is taken at its word."""
    (tmp_path / "strict.py").write_text(STRICT.replace("VERSION", "1"))
    _coder(tmp_path, version=1)
    message = (
        r"^Model 'strict\.py:make' has no setting 'alpa' \(grid\)\. Its settings: "
        r"alpha\. Correct the name or leave it out\.$"
    )
    with pytest.raises(ValueError, match=message):
        check_model(
            "strict.py:make", settings={"alpa": 0.5}, base_dir=tmp_path, where="grid"
        )
    assert check_model("strict.py:make", settings={"alpha": 0.5}, base_dir=tmp_path)
    assert check_model("coder.py:make", settings={"alpa": 0.5}, base_dir=tmp_path)
    _entry_point(tmp_path, monkeypatch, STRICT, package="strict_coders")
    with pytest.raises(ValueError, match=r"^Model 'acme' has no setting 'alpa'\."):
        check_model("acme", settings={"alpa": 0.5})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"^Model 'strict\.py:make' has no setting"):
        make_model("strict.py:make", alpa=0.5)


def test_cli_run_refuses_an_unknown_setting_of_a_registered_model(tmp_path):
    """The coding notebook's settings are checked like its parameters: a typo stops
    `squad run` before any run, with the model's settings."""
    notebook = Path(__file__).resolve().parents[2] / "notebooks" / "coding.ipynb"
    args = ["-p", "dataset", "ecoicop", "-p", "model", "complement_nb"]
    result = CliRunner().invoke(
        main,
        ["run", str(notebook), *args, "-p", "settings", "{alpa: 0.1}"]
        + ["--out", str(tmp_path / "runs"), "--dry-run"],
    )
    assert result.exit_code == 2
    assert result.output == (
        "Error: Model 'complement_nb' has no setting 'alpa' (given with -p). Its "
        "settings: alpha. Correct the name or leave it out.\n"
    )
    assert not (tmp_path / "runs").exists()


def test_cli_run_reports_a_model_file_that_exits(tmp_path, monkeypatch):
    """A model file calling sys.exit(0) does not end `squad run` silently with status 0."""
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(0)\n")
    monkeypatch.chdir(tmp_path)
    notebook = _notebook(tmp_path)
    result = CliRunner().invoke(
        main, ["run", str(notebook), "-p", "model", "exits.py:make", "--dry-run"]
    )
    assert result.exit_code == 2
    assert "failed to load: SystemExit: 0" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_model_file_with_a_byte_order_mark_loads(tmp_path, monkeypatch):
    """UTF-8 with a byte-order mark (as Windows editors save it) loads; its sha256 is
    the file's, and the copy shipped with a run passes its check."""
    path = _coder(tmp_path / "win", version=5)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    code = check_model("coder.py:make", base_dir=path.parent)
    assert code["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / MANIFEST_FILE).write_text(model_manifest({"coder.py:make": code}))
    monkeypatch.setenv("SQUAD_RUN_DIR", str(run_dir))
    assert member_factory("coder.py:make")().version == 5


def test_run_id_follows_the_model_file_content(tmp_path, monkeypatch):
    """Editing the file changes the run id; the same bytes give the same id."""
    monkeypatch.chdir(tmp_path)
    notebook = _notebook(tmp_path)
    path = _coder(tmp_path / "mine", version=1)
    params = [("model", "mine/coder.py:make")]
    first = plan_sweep(notebook, params=params).runs[0]
    assert (
        first.code["model"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    )
    assert plan_sweep(notebook, params=params).runs[0].run_id == first.run_id
    # The same file spelt another way is the same run.
    for spelling in ("./mine/coder.py:make", f"{path.resolve()}:make"):
        again = plan_sweep(notebook, params=[("model", spelling)]).runs[0]
        assert again.run_id == first.run_id, spelling
    _coder(tmp_path / "mine", version=2)
    second = plan_sweep(notebook, params=params).runs[0]
    assert second.parameters == first.parameters
    assert second.run_id != first.run_id
    # A registered model has no member code and keeps its id scheme.
    plain = plan_sweep(notebook, params=[("model", "complement_nb")]).runs[0]
    assert plain.code == {} and plain.code_provenance() is None


def test_a_notebook_without_a_dataset_checks_and_versions_member_files(
    tmp_path, monkeypatch
):
    """Without a dataset parameter a path.py:factory model is still checked before any
    run, resolved from the working folder and part of the run id; another notebook's
    plain "model" value is left alone."""
    monkeypatch.chdir(tmp_path)
    notebook = _notebook(tmp_path / "nbs")
    nb = json.loads(notebook.read_text())
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if source.startswith("dataset: str"):
            cell["source"] = source.split("\n", 1)[1]
    notebook.write_text(json.dumps(nb))
    with pytest.raises(FileNotFoundError, match=r"nosuch\.py does not exist"):
        plan_sweep(notebook, params=[("model", "nosuch.py:make")])
    _coder(tmp_path, version=1)
    params = [("model", "coder.py:make")]
    first = plan_sweep(notebook, params=params).runs[0]
    assert first.code["model"]["path"] == str((tmp_path / "coder.py").resolve())
    _coder(tmp_path, version=2)
    assert plan_sweep(notebook, params=params).runs[0].run_id != first.run_id
    assert plan_sweep(notebook, params=[("model", "rf")]).runs[0].code == {}


def test_member_factory_loads_the_shipped_copy_and_checks_it(tmp_path, monkeypatch):
    """In a run, the code comes from the copy shipped with it, whose sha256 must match."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SQUAD_RUN_DIR", str(run_dir))
    planned = resolve_model("coder.py:make", base_dir=_coder(tmp_path / "a", 7).parent)
    manifest = json.loads(model_manifest({"coder.py:make": planned}))
    (run_dir / MANIFEST_FILE).write_text(json.dumps(manifest))
    _coder(tmp_path, version=99)  # what the worker's own disk holds: not used
    assert member_factory("coder.py:make")().version == 7
    manifest["coder.py:make"]["source"] += "\n# changed on the way\n"
    (run_dir / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(
        OSError, match=r"shipped with this run has sha256 .* not the planned"
    ):
        member_factory("coder.py:make")
    # Outside a sweep the file is read from the working folder.
    monkeypatch.delenv("SQUAD_RUN_DIR")
    assert member_factory("coder.py:make")().version == 99


def test_entry_point_models_are_found_and_versioned(tmp_path, monkeypatch):
    """An installed package's `squad.models` entry point is a model name."""
    _entry_point(tmp_path, monkeypatch, GOOD)
    code = check_model("acme")
    assert code == {
        "kind": "entry_point",
        "spec": "acme",
        "target": "acme_coders:make",
        "package": "acme-coders",
        "version": "1.4",
    }
    coder = make_model("acme", alpha=0.5).fit(["apple pie", "wool coat"], ["x", "y"])
    assert coder.version == 3 and list(coder.classes_) == ["x", "y"]
    with pytest.raises(ValueError, match=r"Unknown model 'acme2'.*installed: acme;"):
        resolve_model("acme2")


def _check_sweep(result, folder: Path, versions: dict[str, int], n_runs: int) -> None:
    assert result.exit_code == 0, result.summary()
    assert len(result.ok) == n_runs
    for run_id in result.ok:
        rec = read_record(folder / run_id)
        spec = rec.parameters["model"]
        assert rec.metrics["version"] == versions[spec]
        assert rec.metrics["n_classes"] == 3
        assert rec.metrics["proba_sum"] == pytest.approx(2.0)
        code = rec.provenance["code"]["model"]
        assert code["spec"] == spec and code["kind"] == "file"
        assert len(code["sha256"]) == 64 and "source" not in code
        assert not any(MANIFEST_FILE in name for name in rec.files)


@pytest.mark.slow
def test_member_models_in_a_grid_on_a_dask_cluster(tmp_path):
    """A grid of two member files runs on Dask; paths are relative to the grid file,
    and the code travels with the runs, not through the workers' disk."""
    distributed = pytest.importorskip("distributed")
    notebook = _notebook(tmp_path / "nb")
    grid_dir = tmp_path / "grids"
    _coder(grid_dir / "models", version=1, name="one.py")
    _coder(grid_dir / "models", version=2, name="two.py")
    grid = grid_dir / "mine.grid.yml"
    grid.write_text("grid:\n  model: [models/one.py:make, models/two.py:make]\n")
    # The kernels run in the notebook's folder, where `models/` does not exist: the
    # runs succeed only with the shipped copies.
    assert not (notebook.parent / "models").exists()
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        result = run_sweep(
            notebook,
            grid=grid,
            scheduler=cluster.scheduler_address,
            out=tmp_path / "runs",
            progress=False,
        )
    _check_sweep(
        result,
        tmp_path / "runs" / "member_model",
        {"models/one.py:make": 1, "models/two.py:make": 2},
        2,
    )
