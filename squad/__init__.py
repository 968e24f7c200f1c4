"""squad: the Global Data Squad kit for comparable machine learning in official statistics.

The small public face: shared datasets (``load_dataset``, ``list_datasets``,
``dataset_info``, ``dataset_checksum``, ``load_hierarchy``, ``get_data_home``) and
``record`` for notebooks. Importing the package reads and downloads nothing, and imports
neither pandas nor numpy: the names below are loaded on first use.

The kit's parts are subpackages: ``squad.data`` (the dataset catalogue),
``squad.evaluation`` (metrics and plots), ``squad.tasks`` (coding and imputation tasks,
the model registry), ``squad.runs`` (parameters, sweeps, the executor), ``squad.board``
(leaderboards, scoring, submissions), ``squad.kernels`` (sandboxed and pre-started
kernels), ``squad.grading`` (``squad grade``) and ``squad.course`` (the nbgrader course,
JupyterLab). ``squad.metrics``, ``squad.plots``, ``squad.coding``, ``squad.models``,
``squad.imputation`` and ``squad.datasets`` are the short names notebooks use.
"""

from __future__ import annotations

import importlib
from typing import Any

from squad._version import __version__
from squad.record import record

#: Public name -> module that defines it, imported on first use.
_LAZY = {
    "dataset_checksum": "squad.data.datasets",
    "dataset_info": "squad.data.datasets",
    "get_data_home": "squad.data.datasets",
    "list_datasets": "squad.data.datasets",
    "load_dataset": "squad.data.datasets",
    "load_hierarchy": "squad.data.datasets",
}

#: Short module names that notebooks use (``squad.metrics.top_k_accuracy_score``).
_SHORT_MODULES = ("coding", "datasets", "imputation", "metrics", "models", "plots")

__all__ = [
    "__version__",
    "dataset_checksum",
    "dataset_info",
    "get_data_home",
    "list_datasets",
    "load_dataset",
    "load_hierarchy",
    "metrics",
    "record",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SHORT_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_SHORT_MODULES})
