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
``squad.imputation`` and ``squad.datasets`` are the short names notebooks use
(:data:`SHORT_NAMES`): one table serves both ``squad.metrics`` and ``import
squad.metrics``, and no module file stands in for them.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from typing import Any

from squad.records.notebook import record

#: The kit's version, read by the package metadata and ``squad --version``.
__version__ = "0.1.0"

#: Public name -> module that defines it, imported on first use.
_LAZY = {
    "dataset_checksum": "squad.data.datasets",
    "dataset_info": "squad.data.datasets",
    "get_data_home": "squad.data.datasets",
    "list_datasets": "squad.data.datasets",
    "load_dataset": "squad.data.datasets",
    "load_hierarchy": "squad.data.datasets",
}

#: Short module names that notebooks use (``squad.metrics.top_k_accuracy_score``,
#: ``from squad.models import make_model``) -> the module each stands for.
SHORT_NAMES = {
    "coding": "squad.tasks.coding",
    "datasets": "squad.data.datasets",
    "imputation": "squad.tasks.imputation",
    "metrics": "squad.evaluation.metrics",
    "models": "squad.tasks.registry",
    "plots": "squad.evaluation.plots",
}

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


class _ShortNameLoader(importlib.abc.Loader):
    """Makes ``import squad.metrics`` give the module the short name stands for."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return importlib.import_module(self.target)

    def exec_module(self, module: Any) -> None:
        """Nothing to run: the module was imported under its own name."""


class _ShortNameFinder(importlib.abc.MetaPathFinder):
    """Finds the short names of :data:`SHORT_NAMES` for the import system."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        package, _, short = fullname.rpartition(".")
        if package != __name__ or short not in SHORT_NAMES:
            return None
        loader = _ShortNameLoader(SHORT_NAMES[short])
        return importlib.machinery.ModuleSpec(fullname, loader)


if not any(isinstance(f, _ShortNameFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _ShortNameFinder())


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in SHORT_NAMES:
        return importlib.import_module(f"{__name__}.{name}")
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *SHORT_NAMES})
