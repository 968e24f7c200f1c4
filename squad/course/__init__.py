"""The Coffee and Coding course: nbgrader's course folder and JupyterLab for it.

- ``build``: the course folder, its assignments and release notebooks (``find_course_dir``,
  ``list_assignments``, ``build_course``, ``run_nbgrader``).
- ``lab``: JupyterLab with nbgrader's extensions, configured inside the kit
  (``start_lab``, ``prepare_lab``).
"""
