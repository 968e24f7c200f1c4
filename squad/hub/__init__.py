"""A JupyterHub for the Coffee and Coding course on one Linux server (``squad hub``).

- ``coursefile``: the course file kept with the course (course id, instructors,
  trainees, a roster from an LMS export), checked.
- ``accounts``: the course's Unix accounts and groups (``squad hub accounts``).
- ``passwords``: each person's own password, issued once, stored hashed, on a sheet.
- ``auth``: the hub's authenticators: those passwords (or shared ones), failed logins
  limited.
- ``layout``: the hub's one folder of state, and who may use the course's hub.
- ``config``: the hub's generated configuration (JupyterHub's, each role's Jupyter and
  nbgrader configuration, the servers' environment).
- ``prepare``: makes the folder ready and writes that configuration at every start.
- ``server``: start and stop the hub (``squad hub start``).
- ``exchange``: nbgrader's submit, private to its owner and the grader.
- ``cgroups``, ``spawner``: each person's server under the course's limits (a cgroup
  of its own, or a systemd unit); ``notices``: a kernel stopped for memory says why.
"""
