"""Experiment tasks: what the shared notebooks train and evaluate.

- ``coding``: the automatic-coding task (``load_coding_task``, ``fit_and_evaluate``,
  ``predictions_frame``, ``save_predictions``).
- ``imputation``: item non-response methods and their evaluation (``impute``,
  ``evaluate_imputation``).
- ``synthesis``: synthetic microdata by sequential tree models (``synthesize``).
- ``models``: the registry of text coders (``make_model``, ``list_models``).
- ``text``: text normalisation (``normalise_text``), without scikit-learn.
"""
