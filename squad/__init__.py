"""squad: the Global Data Squad kit for comparable machine learning in official statistics.

Shared datasets (``load_dataset``), evaluation helpers (``squad.metrics``, ``squad.plots``),
experiment runs and leaderboards, and graded training. Importing the package reads and
downloads nothing.
"""

from squad import metrics
from squad._version import __version__
from squad.datasets import (
    dataset_checksum,
    dataset_info,
    get_data_home,
    list_datasets,
    load_dataset,
    load_hierarchy,
)
from squad.record import record

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
