"""``squad grade``: nbgrader's autograde, in parallel and in a sandbox.

- ``grade``: the API (``grade_assignment``, ``GradingResult``, ``SubmissionOutcome``).
- ``workspace``: the course, its submissions and student patterns (``load_course``).
- ``worker``: one submission graded in a worker (``grade_submission``).
- ``execute``: nbgrader's Execute step with the guard and the sandbox.
- ``kernels``: pre-started sandboxed grading kernels (``starter``, ``watch_memory``).
- ``gradebook``: one submission's rows merged into nbgrader's gradebook.
- ``score``: each graded cell's result and the submission's score
  (``submission_results``, ``submission_score``).
- ``hidden``: hidden tests kept out of what students see (``visible_code``, ``scrub``).
- ``feedback``: feedback pages without hidden tests (``write_feedback``).
- ``reports``: grades CSV and the class report (``write_reports``).
"""
