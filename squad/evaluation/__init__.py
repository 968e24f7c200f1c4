"""Evaluation: pure functions from labels and predictions to metrics and plots.

- ``metrics``: the one import for notebooks (``coding_report``, ``top_k_accuracy_score``,
  ``hierarchical_accuracy_score``, ``automation_rate_score``, ``imputation_report``, ...).
- ``classification``: accuracy, F1, per-class figures, confusions, subgroups, top-k and
  ``coding_report``.
- ``hierarchy``: accuracy by level of hierarchical codes.
- ``automation``: automation curves, rates at an accuracy target, calibration.
- ``estimation``: weighted domain estimates and imputation errors.
- ``disclosure``: disclosure risk of a synthetic file (distance to the closest record,
  matches on quasi-identifiers).
- ``scorecard``: an HLG-MOS-style card of a model's quality.
- ``plots``: matplotlib figures of the above (``plot_automation_curve``, ...).
"""
