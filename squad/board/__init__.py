"""The board: runs from every member compared per task, each scored from its own predictions.

- ``intake``: run folders as untrusted input, checked or left out with one warning
  (``load_runs``); ``schema``: the JSON Schema of ``record.json`` and the size limits.
- ``tasks``: the unit of ranking, dataset × split protocol × language (``task_of``).
- ``leaderboard``: checked runs to one ranked table per task (``board_runs``,
  ``leaderboard_tables``, ``leaderboard_table``, ``format_table``).
- ``scoring``: metrics recomputed from saved predictions (``score_run``,
  ``score_predictions``, ``check_predictions``); ``cache``: scores kept by the sha256 of
  predictions and dataset (``ScoreCache``).
- ``submit``: a predictions file from any tool as a run folder (``submit_predictions``).
- ``figures``, ``pages``: the figures and page contents of a task or a run;
  ``html``: the one-page leaderboard (``write_html``); ``site``: the static site and
  the CI check (``build_site``, ``check_board``).
- ``challenge_results``: a closed challenge's results file, read as untrusted input
  (``read_results``); ``challenge_pages``: its page on the site.
- ``mlflow_export``: runs logged to MLflow (``export_to_mlflow``).
"""
