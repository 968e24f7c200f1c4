"""``squad.imputation`` is :mod:`squad.tasks.imputation`: the short name notebooks and exercises use."""

import sys

from squad.tasks import imputation

sys.modules[__name__] = imputation
