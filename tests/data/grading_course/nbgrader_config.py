"""nbgrader configuration of the small course used by the grading tests and benchmark.

Paths come from the folder of this file, so a copy of the course works anywhere.
"""

import os

c = get_config()  # noqa: F821 - provided by nbgrader when it reads this file

HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "squad-grading-fixture"
c.CourseDirectory.root = HERE
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "gradebook.db").replace(
    os.sep, "/"
)
# Short enough for the hostile cases to stay fast; nbgrader 0.9 reads Execute.timeout.
c.Execute.timeout = 5
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"Kernel is running over TCP without encryption"
# Late submissions score zero (the assignment's due date is set in the gradebook).
c.LateSubmissionPlugin.penalty_method = "zero"
