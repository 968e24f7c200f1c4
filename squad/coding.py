"""``squad.coding`` is :mod:`squad.tasks.coding`: the short name notebooks and exercises use."""

import sys

from squad.tasks import coding

sys.modules[__name__] = coding
