"""Runs: a notebook over a grid of parameters, each run recorded as a folder.

- ``params``: the notebook's declared parameters and grid files (``notebook_parameters``,
  ``read_grid``, ``expand_grid``, ``resolve_parameters``).
- ``plan``: planning a sweep, every run checked and given its id (``plan_sweep``,
  ``make_run_id``).
- ``sweep``: running a planned sweep, each run written as a folder (``run_sweep``).
- ``executor``: one run in a worker, on a local process pool or Dask
  (``open_sweep_executor``, ``execute_run``); the pool itself is :mod:`squad.workers`.

The run record itself (``RunRecord``, ``read_record``, ``write_record``, the notebook's ``record``) is
:mod:`squad.records`, shared with notebooks and the board.
"""
