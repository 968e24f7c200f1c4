"""nbgrader's filesystem exchange, with submissions private to their owner.

nbgrader's own ``submit`` leaves a submission's folder open to everybody (mode 0777);
only its random name in the exchange's ``inbound/`` (which nobody can list) hides it.
On the hub, the folder is open to its owner and to the grader's group (the inbound
folder's group, which nbgrader's release sets with the set-group-id bit, so that new
folders take it), and to nobody else: another trainee who learns its name still gets
a permission error.

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
        """Copy as nbgrader does, then close the submission's folder to other users.

        The folder takes the inbound folder's group (the grader's) when it is made; a
        mode of 0770 lets that group in and keeps everybody else out, whatever the
        modes of the files inside.
        """
        super().copy_files()
        os.chmod(os.path.join(self.inbound_path, self.assignment_filename), 0o770)
