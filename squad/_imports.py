"""Start-up cost of the Jupyter stack, paid once per process that needs it.

jsonschema imports the optional package ``rfc3987_syntax`` when it is first imported,
which compiles about forty parsers: one to several seconds in every process that
touches nbformat (python-jsonschema/jsonschema issue #1428), many times the rest of
jsonschema. Nothing the kit runs checks the IRI formats that package serves (the
notebook schemas use no ``format``), so the kit's own processes (the ``squad``
command, the nbgrader commands it runs, sweep and grading workers) start with it
masked. Every other check of jsonschema stays in place. Kernels that run notebooks
are never touched.
"""

from __future__ import annotations

import sys

__all__ = ["MASK_SOURCE", "mask_slow_optional_imports"]

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
