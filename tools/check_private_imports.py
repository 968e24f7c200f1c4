"""Fail when a module of the package imports another module's private name.

A name that starts with an underscore is the business of the module that defines it;
another module that needs it should get a public name instead. (A module whose own name
starts with an underscore, such as ``squad._atomic``, is internal to the package: its
public names may be imported anywhere in it.) Run by `make lint`:

    python tools/check_private_imports.py squad
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports(root: Path) -> list[str]:
    """Every ``file:line: what`` where a module imports another module's private name."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        here = _module_name(path, root)
        package = here if path.name == "__init__.py" else here.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                source = node.module or ""
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join([*base, source] if source else base)
                if not source.startswith(root.name):
                    continue
                for alias in node.names:
                    if _private(alias.name) and source != here:
                        what = f"from {source} import {alias.name}"
                        problems.append(f"{path}:{node.lineno}: {what}")
    return problems


if __name__ == "__main__":
    found = private_imports(Path(sys.argv[1] if len(sys.argv) > 1 else "squad"))
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} import(s) of another module's private name: make it public.")
    sys.exit(1 if found else 0)
