"""nbgrader's filesystem exchange, with submissions private to their owner.

nbgrader's own ``submit`` leaves every file of a submission readable by everybody; only
the random name of its folder in the exchange's ``inbound/`` (which nobody can list)
hides it. On the hub, a submission is readable by its owner and by the grader's group
(the inbound folder's group, which nbgrader's release sets up with the set-group-id
bit), and by nobody else: another trainee who learns its name still gets a permission
error.

The hub's nbgrader configuration selects it with
``c.ExchangeFactory.submit = "squad.hub.exchange.PrivateSubmit"``.
"""

from __future__ import annotations

import os

from nbgrader.exchange.default.submit import ExchangeSubmit

__all__ = ["PrivateSubmit"]


class PrivateSubmit(ExchangeSubmit):
    """``nbgrader submit`` whose copy in the exchange only its owner and grader read."""

    def copy_files(self) -> None:
        """Copy as nbgrader does, then close the submission to other users."""
        super().copy_files()
        destination = os.path.join(self.inbound_path, self.assignment_filename)
        for folder, dirs, files in os.walk(destination):
            for name in dirs:
                os.chmod(os.path.join(folder, name), 0o750)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o440)
        # Group-writable, as nbgrader's 0777, so that the grader may clean up later.
        os.chmod(destination, 0o770)
