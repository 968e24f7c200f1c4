"""Start-up cost of the Jupyter stack, paid once per process that needs it.

jsonschema imports the optional package ``rfc3987_syntax`` when it is first imported,
which compiles about forty parsers: one to several seconds in every process that
touches nbformat (python-jsonschema/jsonschema issue #1428), many times the rest of
jsonschema. Nothing the kit runs checks the IRI formats that package serves (the
notebook schemas use no ``format``), so the kit's own processes (the ``squad``
command, the nbgrader commands it runs, sweep and grading workers) start with it
masked. Every other check of jsonschema stays in place. Kernels that run notebooks
are never touched.

nbgrader, when it creates a gradebook, asks for the newest schema revision by running
the ``alembic`` command in a new process (``nbgrader.api.get_alembic_version``): about
six seconds, and a ``FileNotFoundError`` when the environment's scripts folder is not on
``PATH`` (an environment used without activating it). The kit's nbgrader processes
read the same revision from nbgrader's migration scripts in-process instead.
"""

from __future__ import annotations

import sys

__all__ = [
    "MASK_SOURCE",
    "alembic_head",
    "mask_slow_optional_imports",
    "masked_entry_point",
    "read_gradebook_revision_in_process",
]

#: Modules that only slow start-up down; importing them raises ImportError once masked.
SLOW_OPTIONAL = ("rfc3987_syntax",)
#: The same, as a line of Python for ``python -c`` in another process.
MASK_SOURCE = (
    "import sys; "
    + "; ".join(f"sys.modules.setdefault({name!r}, None)" for name in SLOW_OPTIONAL)
    + "; "
)


def mask_slow_optional_imports() -> None:
    """Make ``import rfc3987_syntax`` fail fast in this process (unless imported).

    Examples
    --------
    >>> mask_slow_optional_imports()
    >>> "rfc3987_syntax" in sys.modules
    True
    """
    for name in SLOW_OPTIONAL:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def masked_entry_point(
    python: str, target: str, name: str, *, prelude: str = ""
) -> list[str]:
    """The command that runs the entry point ``target`` with the slow imports masked.

    Jupyter servers (JupyterLab, JupyterHub and its single-user servers) import
    jsonschema through jupyter_events: masking saves about a second of CPU at every
    server start, which a course with thirty trainees pays thirty times.

    Parameters
    ----------
    python : str
        The interpreter to run.
    target : str
        ``module:function``, as in the package's console-script entry points.
    name : str
        The program name the entry point sees in ``sys.argv[0]``.
    prelude : str, default=""
        Python statements (ending in ``;``) run before the entry point is imported.

    Returns
    -------
    list of str
        The start of a command line; the program's arguments follow.

    Examples
    --------
    >>> cmd = masked_entry_point("python", "jupyterlab.labapp:main", "jupyter-lab")
    >>> cmd[:2], cmd[2].endswith("sys.exit(main())")
    (['python', '-c'], True)
    """
    module, function = target.split(":")
    return [
        python,
        "-c",
        MASK_SOURCE
        + prelude
        + f"from {module} import {function} as main; "
        + f"sys.argv[0] = {name!r}; sys.exit(main())",
    ]


def alembic_head() -> str:
    """The newest revision of nbgrader's gradebook schema, read from its scripts.

    The same answer as ``alembic heads`` on nbgrader's migrations, without a process.

    Examples
    --------
    >>> len(alembic_head()) == 12
    True
    """
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR

    config = Config()
    config.set_main_option("script_location", ALEMBIC_DIR)
    head = ScriptDirectory.from_config(config).get_current_head()
    if head is None:  # pragma: no cover - nbgrader ships its migrations
        raise RuntimeError(f"nbgrader's migrations in {ALEMBIC_DIR} name no revision")
    return head


def read_gradebook_revision_in_process() -> None:
    """Let nbgrader create gradebooks in this process without the ``alembic`` command.

    Replaces ``nbgrader.api.get_alembic_version``, which runs ``alembic heads`` in a
    new process, by `alembic_head`. Imports nbgrader: for processes that run it.
    """
    import nbgrader.api

    nbgrader.api.get_alembic_version = alembic_head
