"""Tests for squad.tasks.coding: the shared coding task and its evaluation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import squad
from squad.tasks import coding


def test_load_coding_task_soc2010_uses_fixed_split_and_text_choice():
    """The task's test set is the dataset's test split; text options join columns."""
    task = coding.load_coding_task("soc2010", text="title+qualifier")
    test = squad.load_dataset("soc2010", split="test")
    assert len(task.x_test) == len(test)
    assert task.ids_test.tolist() == test["record_id"].tolist()
    owner = test.index[test["qualifier"] != ""][0]
    assert (
        task.x_test[owner]
        == f"{test.loc[owner, 'title']} {test.loc[owner, 'qualifier']}"
    )
    assert task.protocol == "stratified"
    assert task.provenance()["sha256"] == squad.dataset_checksum("soc2010")


def test_load_coding_task_ecoicop_language_and_protocol():
    """ECOICOP tasks take one language; the published protocol has 1,500 test products."""
    task = coding.load_coding_task(
        "ecoicop", language="en", protocol="statistics_poland"
    )
    assert len(task.x_test) == 1500
    assert task.levels is None
    english = squad.load_dataset(
        "ecoicop", split="test", protocol="statistics_poland"
    ).query("language == 'en'")
    assert task.x_test == english["text"].tolist()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"dataset": "isco"},
            "Unknown coding dataset 'isco'. Use one of: soc2010, ecoicop",
        ),
        ({"dataset": "ecoicop", "language": "sv"}, "Unknown language 'sv'"),
        (
            {"dataset": "soc2010", "text": "job"},
            "Unknown text column for soc2010 'job'",
        ),
        ({"dataset": "soc2010", "protocol": "random"}, "no split protocol 'random'"),
    ],
)
def test_load_coding_task_rejects_bad_choices(kwargs, message):
    """Bad choices are named with the valid ones."""
    with pytest.raises(ValueError, match=message):
        coding.load_coding_task(**kwargs)


def test_fit_and_evaluate_report_and_predictions(tmp_path):
    """A fast model gives a full report, predictions consistent with it, and saved files."""
    task = coding.load_coding_task("soc2010")
    result = coding.fit_and_evaluate(task, "complement_nb")
    report = result.report
    assert report["accuracy"] == pytest.approx(np.mean(result.y_pred == task.y_test))
    assert report["accuracy_level_1"] >= report["accuracy_level_4"]
    assert report["top_5_accuracy"] >= report["accuracy"]
    assert report["accuracy"] > 0.4  # far above chance (1/369)
    preds = coding.predictions_frame(task, result)
    assert len(preds) == len(task.x_test)
    assert (preds["code_1"] == preds["predicted"]).all()
    assert (preds["proba_1"] >= preds["proba_2"]).all()
    written = coding.save_predictions(preds, run_dir=tmp_path)
    assert sorted(p.name for p in written) == ["predictions.csv", "predictions.parquet"]
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "predictions.parquet"), preds
    )
    curve = result.curve(task.y_test)
    assert len(curve["accuracy"]) <= 200 and curve["automation_rate"][
        -1
    ] == pytest.approx(1.0)


def test_fit_and_evaluate_refuses_a_setting_the_model_does_not_take():
    """Inside a run (the notebook calls fit_and_evaluate) a mistyped setting is an
    error, not a run of the default alpha recorded with the typo."""
    task = coding.load_coding_task("soc2010")
    with pytest.raises(
        ValueError, match=r"^Model 'complement_nb' has no setting 'alpa'\. Its"
    ):
        coding.fit_and_evaluate(task, "complement_nb", alpa=0.1)


def test_save_predictions_outside_a_sweep_writes_nothing(monkeypatch):
    """Without a run folder, saving is a no-op."""
    monkeypatch.delenv("SQUAD_RUN_DIR", raising=False)
    assert coding.save_predictions(pd.DataFrame({"record_id": [1]})) == []
