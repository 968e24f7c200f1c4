"""Runs: a notebook over a grid of parameters, each run recorded as a folder.

- ``params``: the notebook's declared parameters and grid files (``notebook_parameters``,
  ``read_grid``, ``expand_grid``, ``resolve_parameters``).
- ``sweep``: planning and running a sweep (``plan_sweep``, ``run_sweep``, ``make_run_id``).
- ``executor``: one run in a worker, on a local process pool or Dask
  (``open_sweep_executor``, ``execute_run``); the pool itself is :mod:`squad.workers`.

The run record itself (``RunRecord``, ``read_record``, ``write_record``, the notebook's ``record``) is
:mod:`squad.records`, shared with notebooks and the board.
"""
