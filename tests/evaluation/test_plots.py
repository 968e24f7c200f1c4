"""Tests for squad.evaluation.plots: each function returns a Figure with the expected artists."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib import _pylab_helpers
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from PIL import Image

from squad.evaluation._figures import OKABE_ITO, DescribedFigure
from squad.evaluation.metrics import (
    automation_curve,
    calibration_report,
    coding_report,
    hierarchical_accuracy_report,
)
from squad.evaluation.plots import (
    plot_automation_curve,
    plot_confusion_matrix,
    plot_domain_estimates,
    plot_hierarchical_accuracy,
    plot_imputation_distributions,
    plot_reliability_diagram,
)


def _model(seed: int, n: int = 200):
    """Seeded (y_true, y_pred, confidence) for four-digit codes."""
    rng = np.random.default_rng(seed)
    classes = np.array(["1111", "1112", "1121", "2111", "2112", "3111"])
    y_true = classes[rng.integers(0, len(classes), n)]
    correct = rng.random(n) < 0.7
    y_pred = np.where(correct, y_true, classes[rng.integers(0, len(classes), n)])
    conf = np.clip(np.where(correct, 0.8, 0.5) + rng.normal(0, 0.15, n), 0, 1)
    return y_true, y_pred, conf


def test_plot_automation_curve_overlays_models_and_target():
    """One line per model plus a horizontal target line, with legend entries."""
    models = {"A": _model(0), "B": automation_curve(*_model(1))}
    fig = plot_automation_curve(models, target_accuracy=0.9)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert len(ax.lines) == 3
    target = ax.lines[-1]
    assert list(target.get_ydata()) == [0.9, 0.9]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("A (") and labels[1].startswith("B (")
    assert labels[2] == "target 90%"
    curve = automation_curve(*_model(0))
    np.testing.assert_allclose(ax.lines[0].get_xdata()[1:], curve["automation_rate"])
    np.testing.assert_allclose(ax.lines[0].get_ydata()[1:], curve["accuracy"])


def test_plot_automation_curve_single_model_without_target():
    """A single tuple draws one line; target_accuracy=None draws no target."""
    fig = plot_automation_curve(_model(2), target_accuracy=None)
    assert len(fig.axes[0].lines) == 1


def test_plot_automation_curve_into_given_axes():
    """ax= draws into an existing Axes and returns its Figure."""
    fig = Figure()
    axes = fig.subplots(1, 2)
    out = plot_automation_curve({"A": _model(3)}, ax=axes[1])
    assert out is fig
    assert len(axes[1].lines) == 2 and len(axes[0].lines) == 0


@pytest.mark.parametrize(
    ("curves", "match"),
    [
        (
            "model",
            r"expected a DataFrame, a Series, a tuple of arrays or a dict of them by "
            r"model name; received str",
        ),
        (
            {"A": (["a"], ["a"])},
            r"expected \(y_true, y_pred, confidence\); received tuple",
        ),
        ({}, r"received an empty dict of models"),
    ],
)
def test_plot_automation_curve_bad_input(curves, match):
    """Inputs of the wrong form are refused."""
    with pytest.raises(ValueError, match=match):
        plot_automation_curve(curves)


def test_plot_hierarchical_accuracy_from_reports_and_tuples():
    """DataFrames, coding_report dicts and tuples each give one line over the levels."""
    y_true, y_pred, _ = _model(4)
    table = hierarchical_accuracy_report(y_true, y_pred)
    fig = plot_hierarchical_accuracy(
        {
            "table": table,
            "report": coding_report(y_true, y_pred, levels=(1, 2, 3, 4)),
            "tuple": (y_true, y_pred),
            "series": table.set_index("level")["accuracy"],
        }
    )
    (ax,) = fig.axes
    assert len(ax.lines) == 4
    for line in ax.lines:
        assert list(line.get_xdata()) == [1, 2, 3, 4]
        np.testing.assert_allclose(line.get_ydata(), table["accuracy"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "table",
        "report",
        "tuple",
        "series",
    ]


def test_plot_hierarchical_accuracy_report_without_levels():
    """A coding_report made with levels=None cannot be drawn."""
    report = coding_report(["a"], ["a"], levels=None)
    with pytest.raises(ValueError, match=r"has no accuracy_level_<l> entries"):
        plot_hierarchical_accuracy({"m": report})


def test_plot_confusion_matrix_largest_classes_and_other():
    """Rows are the N largest classes; predictions outside them go to 'other'."""
    y_true = ["a"] * 5 + ["b"] * 3 + ["c"] * 2 + ["d"]
    y_pred = ["a", "a", "a", "b", "d"] + ["b", "b", "c"] + ["c", "a"] + ["d"]
    fig = plot_confusion_matrix(y_true, y_pred, n_classes=2)
    assert len(fig.axes) == 2  # the matrix and its colour bar
    ax = fig.axes[0]
    matrix = ax.images[0].get_array()
    np.testing.assert_allclose(matrix, [[3 / 5, 1 / 5, 1 / 5], [0, 2 / 3, 1 / 3]])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "other"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    counts = plot_confusion_matrix(y_true, y_pred, n_classes=10, normalize=None)
    assert counts.axes[0].images[0].get_array().sum() == len(y_true)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"normalize": "all"}, r"normalize must be 'true' or None; received 'all'"),
        ({"n_classes": 0}, r"n_classes must be a positive integer; received 0"),
    ],
)
def test_plot_confusion_matrix_bad_input(kwargs, match):
    """Unknown normalisation and a non-positive class count are refused."""
    with pytest.raises(ValueError, match=match):
        plot_confusion_matrix(["a"], ["a"], **kwargs)


def test_plot_reliability_diagram_bars_match_calibration_report():
    """One bar per non-empty bin at the bin's accuracy, and the diagonal."""
    y_true, y_pred, conf = _model(5)
    fig = plot_reliability_diagram(y_true, y_pred, conf, n_bins=10)
    (ax,) = fig.axes
    table = calibration_report(y_true, y_pred, conf, n_bins=10)
    filled = table[table["n"] > 0]
    heights = [patch.get_height() for patch in ax.patches]
    np.testing.assert_allclose(heights, filled["accuracy"])
    assert len(ax.lines) == 1
    assert list(ax.lines[0].get_xdata()) == [0, 1]
    assert ax.get_title().startswith("Reliability diagram (ECE ")


def test_plot_reliability_diagram_bad_confidence():
    """Confidences outside [0, 1] are refused."""
    with pytest.raises(ValueError, match=r"confidence must lie in \[0, 1\]"):
        plot_reliability_diagram(["a"], ["a"], [2.0])


def test_plot_imputation_distributions_numeric():
    """Two density outlines on shared bins, only for the imputed records."""
    rng = np.random.default_rng(6)
    y_true = rng.normal(10, 2, 300)
    mask = rng.random(300) < 0.5
    y_imputed = np.where(mask, y_true + 1.0, y_true)
    fig = plot_imputation_distributions(y_true, y_imputed, mask=mask, bins=12)
    (ax,) = fig.axes
    assert [p.get_label() for p in ax.patches] == ["true", "imputed"]
    true_stairs, imputed_stairs = ax.patches
    np.testing.assert_array_equal(
        true_stairs.get_data().edges, imputed_stairs.get_data().edges
    )
    assert len(true_stairs.get_data().values) == 12
    assert f"n={mask.sum()}" in ax.get_title()


def test_plot_imputation_distributions_categorical():
    """Two groups of bars with the category shares of the imputed records."""
    fig = plot_imputation_distributions(["a", "a", "b", "c"], ["a", "b", "b", "b"])
    (ax,) = fig.axes
    assert len(ax.containers) == 2
    true_bars, imputed_bars = ax.containers
    assert [b.get_height() for b in true_bars] == [0.5, 0.25, 0.25]
    assert [b.get_height() for b in imputed_bars] == [0.25, 0.75, 0.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]


def test_plot_imputation_distributions_bad_input():
    """Missing imputed values and a mask selecting nothing are refused."""
    with pytest.raises(
        ValueError, match=r"y_imputed has 1 missing values among the imputed"
    ):
        plot_imputation_distributions([1.0, 2.0], [1.0, np.nan])
    with pytest.raises(ValueError, match=r"mask selects no records"):
        plot_imputation_distributions([1.0, 2.0], [1.0, 2.0], mask=[False, False])


def test_series_differ_in_safe_colour_and_line_style():
    """Each model gets an Okabe-Ito colour and its own line style (readable in grey)."""
    fig = plot_automation_curve({"A": _model(0), "B": _model(1), "C": _model(2)})
    lines = fig.axes[0].lines[:3]
    colours = [to_hex(line.get_color()) for line in lines]
    assert set(colours) <= {c.lower() for c in OKABE_ITO} and len(set(colours)) == 3
    assert len({str(line.get_linestyle()) for line in lines}) == 3
    levels = plot_hierarchical_accuracy({"A": _model(3)[:2], "B": _model(4)[:2]})
    markers = [line.get_marker() for line in levels.axes[0].lines]
    assert markers[0] != markers[1]


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (
            lambda: plot_automation_curve(_model(0), target_accuracy=0.9),
            r"Automation curve: .* A dotted grey line marks the target accuracy of 90 %",
        ),
        (
            lambda: plot_hierarchical_accuracy(
                pd.Series({1: 0.8, 2: 0.7, 3: 0.6, 4: 0.5})
            ),
            r"model: 80 % at level 1, 70 % at level 2, 60 % at level 3, 50 % at level 4",
        ),
        (
            lambda: plot_reliability_diagram(*_model(5), n_bins=10),
            r"^Reliability diagram: .* ECE 0\.\d{3}; of \d+ non-empty bins, \d+ have",
        ),
        (lambda: plot_confusion_matrix(*_model(6)[:2]), r"^Confusion matrix of the 6"),
        (
            lambda: plot_imputation_distributions([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]),
            r"true \(solid\) and imputed \(dashed\).*Standard deviation 0\.816 true "
            r"against 0 imputed",
        ),
    ],
)
def test_figures_describe_themselves(make, said):
    """A figure the function makes carries alt text written from its data."""
    fig = make()
    assert isinstance(fig, DescribedFigure)
    assert re.search(said, fig.alt_text), fig.alt_text


def test_alt_text_reaches_notebook_and_png():
    """In a notebook the image's alt attribute is the text; a PNG keeps it and the title."""
    fig = plot_hierarchical_accuracy(_model(7)[:2], alt_text='Accuracy "falls" <fast>')
    data, _ = fig._repr_mimebundle_()
    assert 'alt="Accuracy &quot;falls&quot; &lt;fast&gt;"' in data["text/html"]
    assert data["text/html"].startswith('<img src="data:image/png;base64,')
    assert data["text/plain"] == 'Accuracy "falls" <fast>'
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    info = Image.open(io.BytesIO(buffer.getvalue())).info
    assert info["Description"] == 'Accuracy "falls" <fast>'
    assert info["Title"] == "Accuracy by hierarchy level"


def test_figure_drawn_into_given_axes_keeps_its_own_text():
    """With ax=, the caller's figure is theirs: no alt text is written into it."""
    fig = Figure()
    plot_hierarchical_accuracy(_model(8)[:2], ax=fig.add_subplot())
    assert not isinstance(fig, DescribedFigure)


def test_plot_reliability_diagram_lines_for_several_confidences():
    """A dict of confidences draws one line per entry, with its ECE in the legend."""
    y_true, y_pred, conf = _model(9)
    fig = plot_reliability_diagram(
        y_true, y_pred, {"before": conf, "after": np.sqrt(conf)}, n_bins=10
    )
    (ax,) = fig.axes
    assert len(ax.patches) == 0
    labels = [line.get_label() for line in ax.lines]
    assert labels[0].startswith("before (ECE ") and labels[1].startswith("after (ECE ")
    assert labels[2] == "perfect calibration"
    table = calibration_report(y_true, y_pred, conf, n_bins=10)
    filled = table[table["n"] > 0]
    np.testing.assert_allclose(ax.lines[0].get_xdata(), filled["mean_confidence"])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), filled["accuracy"])
    with pytest.raises(ValueError, match="received an empty dict of confidences"):
        plot_reliability_diagram(y_true, y_pred, {})


def test_plot_domain_estimates_sorts_by_reference_and_names_largest_gap():
    """Domains sorted by the reference; one marker series per column; the text names
    the domain and method furthest from the reference."""
    table = pd.DataFrame(
        {
            "true": [15.0, 12.0, 20.0],
            "mean": [14.0, 12.5, 17.0],
            "regression": [15.2, 12.1, 19.5],
        },
        index=pd.Index(["North", "Wales", "London"], name="region"),
    )
    fig = plot_domain_estimates(table, reference="true", xlabel="Mean pay (GBP)")
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Wales", "North", "London"]
    assert [line.get_label() for line in ax.lines] == ["true", "mean", "regression"]
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [12.0, 15.0, 20.0])
    assert ax.lines[0].get_color() == "black"
    assert ax.get_xlabel() == "Mean pay (GBP)" and ax.get_ylabel() == "region"
    assert "The largest difference from true is mean in London: 17 against 20." in (
        fig.alt_text
    )


@pytest.mark.parametrize(
    ("estimates", "kwargs", "match"),
    [
        (pd.DataFrame(), {}, "should be a non-empty pandas DataFrame"),
        ([1.0], {}, "received list"),
        (pd.DataFrame({"a": [1.0]}), {"reference": "b"}, "reference 'b' is not a col"),
        (pd.DataFrame({"a": ["x"]}), {}, "should hold numbers only"),
    ],
)
def test_plot_domain_estimates_bad_input(estimates, kwargs, match):
    """Empty or non-numeric tables and an unknown reference are refused."""
    with pytest.raises(ValueError, match=match):
        plot_domain_estimates(estimates, **kwargs)


def test_plots_leave_no_pyplot_figures():
    """No function registers a figure with pyplot."""
    y_true, y_pred, conf = _model(7)
    plot_automation_curve({"A": (y_true, y_pred, conf)})
    plot_hierarchical_accuracy((y_true, y_pred))
    plot_confusion_matrix(y_true, y_pred)
    plot_reliability_diagram(y_true, y_pred, conf)
    plot_imputation_distributions(conf, conf)
    plot_domain_estimates(pd.DataFrame({"a": [1.0, 2.0]}))
    assert _pylab_helpers.Gcf.get_num_fig_managers() == 0
