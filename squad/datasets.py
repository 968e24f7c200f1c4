"""``squad.datasets`` is :mod:`squad.data.datasets`: the short name notebooks and exercises use."""

import sys

from squad.data import datasets

sys.modules[__name__] = datasets
