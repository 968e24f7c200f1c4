"""``squad.plots`` is :mod:`squad.evaluation.plots`: the short name notebooks and exercises use."""

import sys

from squad.evaluation import plots

sys.modules[__name__] = plots
