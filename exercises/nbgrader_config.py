"""nbgrader configuration for the squad "Coffee and Coding" course.

Every path is taken from the folder of this file, so the same course works from any
working directory and from any copy of the kit. Run nbgrader commands from this folder
(``cd exercises``), or use ``make course`` / ``squad course build`` from the kit's root.
"""

import contextlib
import os

c = get_config()  # noqa: F821 - provided by nbgrader when it reads this file

HERE = os.path.dirname(os.path.abspath(__file__))

#: The assignments of the course, from beginner to advanced, in teaching order. The
#: 00a/00b on-ramp is for trainees new to Python; folder names sort in this order.
ASSIGNMENTS = [
    "00a-from-spss-to-python",
    "00b-first-look-at-coding",
    "01-survey-microdata",
    "02-occupation-coding",
    "03-evaluating-a-coder",
    "04-imputation",
    "05-reproducible-pipelines",
    "06-quality-and-drift",
    "07-synthetic-data",
]

# --- the course and its folders ---------------------------------------------------
c.CourseDirectory.course_id = "squad-coffee-and-coding"
c.CourseDirectory.root = HERE
# The gradebook lives beside source/ (POSIX form, so the URL also works on Windows).
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "gradebook.db").replace(
    os.sep, "/"
)

# --- grading ------------------------------------------------------------------------
# Seconds allowed for each cell. nbgrader 0.9 reads Execute.timeout; the older
# ExecutePreprocessor.timeout shown in its FAQ has no effect.
c.Execute.timeout = 60

# --- the exchange (JupyterHub route) --------------------------------------------------
# A folder inside the course, so a single machine works out of the box. On a shared
# JupyterHub, set Exchange.root to a folder every user can read and write, for example
# /srv/nbgrader/exchange, in the instructor's and trainees' own nbgrader_config.py.
c.Exchange.root = os.path.join(HERE, "exchange")
with contextlib.suppress(OSError):
    os.makedirs(c.Exchange.root, exist_ok=True)

# --- the no-hub route: submissions downloaded from a learning management system -----
# `nbgrader zip_collect <assignment>` reads downloaded/<assignment>/archive/*.zip.
# Each file in the archive is named "<student id>_<notebook>.ipynb", for example
# "trainee07_survey-microdata.ipynb" (student ids must not contain "_").
c.FileNameCollectorPlugin.named_regexp = (
    r".*[\\/](?P<student_id>[^\\/_]+)_(?P<file_id>[^\\/]+\.ipynb)$"
)
