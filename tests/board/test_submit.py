"""Tests for squad.board.submit and `squad submit`: predictions files from any tool."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from squad.board.leaderboard import leaderboard_table
from squad.board.scoring import score_run
from squad.board.submit import read_predictions, submit_predictions
from squad.cli import main
from squad.data.datasets import load_dataset


@pytest.fixture(scope="module")
def soc_test():
    """The soc2010 test split (default protocol)."""
    return load_dataset("soc2010", "test").reset_index(drop=True)


def _predictions(test: pd.DataFrame, *, wrong: int = 0) -> pd.DataFrame:
    """Perfect predictions with top codes, then ``wrong`` rows given another code."""
    frame = pd.DataFrame(
        {
            "record_id": test["record_id"],
            "predicted": test["soc2010"].astype(str),
            "confidence": 0.75,
            "code_1": test["soc2010"].astype(str),
            "proba_1": 0.75,
            "code_2": test["soc2010"].map(lambda c: "1116" if c == "1115" else "1115"),
            "proba_2": 0.125,
        }
    )
    for i in range(wrong):
        other = "1116" if frame.at[i, "predicted"] != "1116" else "1115"
        frame.loc[i, ["predicted", "code_1"]] = other
        frame.at[i, "code_2"] = test.at[i, "soc2010"]
    return frame


def _write_r(frame: pd.DataFrame, path):
    """As R's write.csv: quoted strings and header, a row-name column, LF."""
    lines = ['"",' + ",".join(f'"{c}"' for c in frame.columns)]
    for i, row in enumerate(frame.itertuples(index=False), start=1):
        cells = [f'"{v}"' if isinstance(v, str) else repr(v) for v in row]
        lines.append(f'"{i}",' + ",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def _write_excel(frame: pd.DataFrame, path):
    """As Excel in a comma-decimal locale: BOM, ';' separators, CRLF, decimal commas."""
    text = frame.to_csv(sep=";", index=False, decimal=",", lineterminator="\r\n")
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    return path


def test_submit_perfect_scores_one_and_one_wrong_scores_n_minus_1(soc_test, tmp_path):
    """A perfect file scores 1.0; exactly one wrong code scores (n - 1) / n."""
    n = len(soc_test)
    _predictions(soc_test).to_csv(tmp_path / "perfect.csv", index=False)
    _predictions(soc_test, wrong=1).to_csv(tmp_path / "one.csv", index=False)
    runs = tmp_path / "runs"
    perfect = submit_predictions(
        tmp_path / "perfect.csv", member="ons", model_name="oracle", out=runs
    )
    one = submit_predictions(
        tmp_path / "one.csv", member="ons", model_name="almost", out=runs
    )
    metrics = json.loads((perfect / "record.json").read_text())["metrics"]
    assert metrics["accuracy"] == 1.0 and metrics["accuracy_level_4"] == 1.0
    assert metrics["n"] == n
    one_metrics = json.loads((one / "record.json").read_text())["metrics"]
    assert one_metrics["accuracy"] == (n - 1) / n
    assert "top_3_accuracy" not in one_metrics  # only two codes listed


def test_submit_writes_a_run_folder_the_board_shows(soc_test, tmp_path):
    """The run folder has record, normalised predictions, and ranks as verified."""
    source = tmp_path / "mine.parquet"
    _predictions(soc_test, wrong=3).to_parquet(source)
    folder = submit_predictions(
        source,
        member="statcan",
        model_name="sas_rules",
        description="SAS keyword rules",
        out=tmp_path / "runs",
    )
    assert folder.parent == tmp_path / "runs" / "coding"
    record = json.loads((folder / "record.json").read_text())
    assert record["status"] == "ok"
    assert record["parameters"]["model"] == "sas_rules"
    assert record["parameters"]["description"] == "SAS keyword rules"
    assert record["provenance"]["member"] == "statcan"
    dataset = record["provenance"]["dataset"]
    assert (dataset["name"], dataset["protocol"]) == ("soc2010", "stratified")
    assert len(dataset["sha256"]) == 64
    assert len(record["provenance"]["submitted_file"]["sha256"]) == 64
    assert set(record["files"]) == {"predictions.parquet", "predictions.csv"}
    saved = pd.read_csv(folder / "predictions.csv", dtype=str)
    assert list(saved.columns[:3]) == ["record_id", "predicted", "confidence"]
    assert score_run(folder).status == "verified"
    table = leaderboard_table(tmp_path / "runs")
    assert list(table["check"]) == ["verified"]
    assert list(table["member"]) == ["statcan"]
    again = submit_predictions(
        source, member="statcan", model_name="sas_rules", out=tmp_path / "runs"
    )
    assert again == folder  # same file, member and model: replaced, not duplicated
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]


def test_r_excel_and_pandas_files_score_the_same(soc_test, tmp_path):
    """The same predictions written as R, Excel, pandas CSV and Parquet score alike."""
    frame = _predictions(soc_test, wrong=40)
    files = [
        _write_r(frame, tmp_path / "r.csv"),
        _write_excel(frame, tmp_path / "excel.csv"),
        tmp_path / "pandas.csv",
        tmp_path / "pandas.parquet",
    ]
    frame.to_csv(files[2], index=True)  # with the index, as a row-name column
    frame.to_parquet(files[3], index=False)
    scores = []
    for i, file in enumerate(files):
        folder = submit_predictions(
            file, member=f"m{i}", model_name="same", out=tmp_path / "runs"
        )
        metrics = json.loads((folder / "record.json").read_text())["metrics"]
        metrics.pop("automation_curve")
        scores.append(metrics)
    assert scores[0]["accuracy"] == (len(frame) - 40) / len(frame)
    assert all(s == scores[0] for s in scores[1:])
    excel = read_predictions(files[1])
    assert excel.at[0, "confidence"] == "0.75"
    assert excel["predicted"].tolist() == frame["predicted"].tolist()


def test_codes_read_as_numbers_keep_their_digits(soc_test, tmp_path):
    """SOC codes stored as floats (1115.0) are scored as the code "1115"."""
    frame = _predictions(soc_test)[["record_id", "predicted"]]
    frame["predicted"] = frame["predicted"].astype(float)
    frame["record_id"] = frame["record_id"].astype(float)
    frame.to_parquet(tmp_path / "floats.parquet")
    folder = submit_predictions(
        tmp_path / "floats.parquet", member="a", model_name="b", out=tmp_path / "runs"
    )
    assert json.loads((folder / "record.json").read_text())["metrics"]["accuracy"] == 1
    saved = pd.read_parquet(folder / "predictions.parquet")
    assert saved["predicted"].iloc[0] == str(soc_test.at[0, "soc2010"])


def _missing(frame, train):
    return frame.iloc[5:]


def _duplicated(frame, train):
    return pd.concat([frame, frame.iloc[:2]])


def _train_ids(frame, train):
    extra = pd.DataFrame(
        {
            "record_id": train["record_id"].iloc[:3],
            "predicted": "1115",
            "confidence": 0.5,
        }
    )
    return pd.concat([frame, extra])


def _unknown(frame, train):
    extra = pd.DataFrame(
        {"record_id": [99999991, 99999992], "predicted": "1115", "confidence": 0.5}
    )
    return pd.concat([frame, extra])


def _labels(frame, train):
    frame = frame.copy()
    frame.loc[:3, "predicted"] = "ZZ99"
    return frame


def _not_numbers(frame, train):
    frame = frame.copy()
    frame["confidence"] = frame["confidence"].astype(object)
    frame.loc[:1, "confidence"] = "high"
    return frame


def _outside(frame, train):
    frame = frame.copy()
    frame.loc[:2, "confidence"] = 1.5
    return frame


def _no_predicted(frame, train):
    return frame.drop(columns=["predicted"]).rename(columns={"record_id": "id"})


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_missing, r": 5 test ids missing \(e\.g\. \d+, \d+, \d+\)\. Fix it"),
        (_duplicated, r": 2 duplicated ids \(e\.g\. \d+, \d+\)\. Fix it"),
        (_train_ids, r": 3 ids from the train split \(e\.g\. \d+, \d+, \d+\)\. Fix"),
        (_unknown, r": 2 unknown ids \(e\.g\. 99999991, 99999992\)\. Fix"),
        (_labels, r": 4 labels outside the soc2010 classification \(e\.g\. 'ZZ99'\)"),
        (_not_numbers, r": 2 confidence values not numbers \(e\.g\. 'high', 'high'\)"),
        (
            _outside,
            r": 3 confidence values outside \[0, 1\] \(e\.g\. 1\.5, 1\.5, 1\.5\)",
        ),
        (
            _no_predicted,
            r": missing columns 'record_id', 'predicted' \(found: id, confidence\)",
        ),
    ],
)
def test_invalid_files_are_rejected_in_one_line(soc_test, tmp_path, mutate, message):
    """Each kind of problem is named with its count; the CLI prints one line, exit 2."""
    train = load_dataset("soc2010", "train")
    frame = _predictions(soc_test)[["record_id", "predicted", "confidence"]]
    mutate(frame, train).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(
        ValueError, match=r"^bad\.csv is not a valid soc2010 predictions file" + message
    ):
        submit_predictions(
            tmp_path / "bad.csv", member="a", model_name="b", out=tmp_path
        )
    result = CliRunner().invoke(
        main,
        [
            "submit",
            str(tmp_path / "bad.csv"),
            "--member",
            "a",
            "--model-name",
            "b",
            "--out",
            str(tmp_path / "runs"),
        ],
    )
    assert result.exit_code == 2
    assert len(result.output.splitlines()) == 1 and result.output.startswith("Error: ")
    assert not (tmp_path / "runs").exists()


def test_several_problems_are_named_together(soc_test, tmp_path):
    """Missing ids, unknown ids and bad labels are all counted in the one line."""
    frame = _predictions(soc_test)[["record_id", "predicted"]].iloc[2:].copy()
    frame.loc[frame.index[0], "record_id"] = 99999999
    frame.loc[frame.index[1], "predicted"] = "0000"
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError) as info:
        submit_predictions(
            tmp_path / "bad.csv", member="a", model_name="b", out=tmp_path
        )
    text = str(info.value)
    assert "3 test ids missing" in text and "1 unknown ids (e.g. 99999999)" in text
    assert "1 labels outside the soc2010 classification (e.g. '0000')" in text
    assert "\n" not in text


def test_cli_submit_prints_score_and_folder(soc_test, tmp_path):
    """`squad submit` scores the file and names the run folder."""
    _predictions(soc_test, wrong=1).to_csv(tmp_path / "p.csv", index=False)
    result = CliRunner().invoke(
        main,
        [
            "submit",
            str(tmp_path / "p.csv"),
            "--member",
            "ons",
            "--model-name",
            "x",
            "--out",
            str(tmp_path / "runs"),
        ],
    )
    assert result.exit_code == 0, result.output
    n = len(soc_test)
    assert result.output.startswith(
        f"Scored {n:,} test records of soc2010: accuracy {(n - 1) / n:.4f}. Wrote "
    )


def test_ecoicop_language_column_and_product_id(tmp_path):
    """ecoicop files may name the id product_id and carry a language column."""
    test = load_dataset("ecoicop", "test")
    test = test[test["language"].isin(["en", "fr"])]
    frame = pd.DataFrame(
        {
            "product_id": test["product_id"],
            "language": test["language"].str.upper(),
            "predicted": test["category"],
        }
    )
    frame.to_csv(tmp_path / "eco.csv", index=False)
    folder = submit_predictions(
        tmp_path / "eco.csv",
        dataset="ecoicop",
        member="gus",
        model_name="m",
        out=tmp_path / "runs",
    )
    record = json.loads((folder / "record.json").read_text())
    assert record["metrics"]["accuracy"] == 1.0 and record["metrics"]["n"] == len(test)
    assert record["provenance"]["dataset"]["language"] == "en,fr"
    # Without the column every row is Polish: en and fr rows repeat the same ids.
    with pytest.raises(
        ValueError, match=rf": {len(test) // 2} duplicated ids \(e\.g\."
    ):
        frame.drop(columns="language").to_csv(tmp_path / "pl.csv", index=False)
        submit_predictions(
            tmp_path / "pl.csv",
            dataset="ecoicop",
            member="g",
            model_name="m",
            out=tmp_path,
        )
