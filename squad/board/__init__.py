"""The board: runs from every member compared, each scored from its own predictions.

- ``leaderboard``: run folders to a ranked table (``load_records``, ``leaderboard_table``,
  ``format_table``).
- ``scoring``: metrics recomputed from saved predictions (``score_run``,
  ``score_predictions``, ``check_predictions``).
- ``submit``: a predictions file from any tool as a run folder (``submit_predictions``).
- ``html``: the self-contained leaderboard page (``write_html``).
- ``mlflow_export``: runs logged to MLflow (``export_to_mlflow``).
"""
