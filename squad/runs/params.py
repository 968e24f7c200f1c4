"""Notebook parameters: declaration, validation and grid files.

A notebook declares its parameters in its one cell tagged ``parameters``, one per line::

    dataset: str = "soc2010"  # soc2010 or ecoicop
    C: float = 1.0  # inverse regularisation strength
    seed: int = 0

Types are ``int``, ``float``, ``str``, ``bool``, ``list`` and ``dict`` (``list[str]``
and the like count as ``list``; ``str | None`` also accepts None). Defaults are
literals. Values are checked before anything runs: an unknown name, a value of the
wrong type (an int is fine for a float) or a value that is not JSON (a tuple, a date)
is rejected with a message.

A grid file (``<notebook>.grid.yml`` beside the notebook is used by default) lists the
runs of a sweep::

    base:                 # optional: fixed for every run
      dataset: soc2010
    grid:                 # optional: every combination of these lists
      model: [lookup, tfidf_logreg]
      seed: [0, 1]
    runs:                 # optional: explicit runs, each on top of base
      - {model: complement_nb, alpha: 0.5}

``grid`` may also be a list of such mappings (one product per mapping). The runs are
the products of ``grid`` followed by ``runs``; with neither there is one run of
``base``. Parameters given on the command line (``-p NAME VALUE``) are then fixed for
every run (a name given several times sweeps over its values; see
:func:`squad.runs.plan.plan_sweep`), and identical runs are kept once.
"""

from __future__ import annotations

import ast
import io
import itertools
import json
import math
import os
import re
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from squad.errors import InvalidInputError, MissingFileError

__all__ = [
    "PARAMETER_TYPES",
    "Parameter",
    "canonical_json",
    "check_value",
    "expand_grid",
    "notebook_parameters",
    "parameters_cell",
    "cell_source",
    "parse_value",
    "read_grid",
    "read_notebook",
    "resolve_parameters",
]

PARAMETER_TYPES = ("int", "float", "str", "bool", "list", "dict")
_GRID_KEYS = ("base", "grid", "runs")
_DECIMAL = re.compile(r"[-+]?[0-9]+")


class _Loader(yaml.SafeLoader):
    """YAML with YAML 1.2's floats: PyYAML (YAML 1.1) reads ``1e-5`` and ``1e3``, with
    no decimal point, as text, so ``alpha: 1e-5`` would reach a model as a string."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


@dataclass(frozen=True)
class Parameter:
    """A parameter declared in a notebook's ``parameters`` cell.

    Attributes
    ----------
    name : str
    type : str
        One of ``PARAMETER_TYPES``, or ``"any"`` for an untyped parameter whose
        default is None.
    default : object
        The literal default.
    help : str
        The comment at the end of the line ("" if none).
    nullable : bool
        Whether None is accepted.
    """

    name: str
    type: str
    default: Any
    help: str = ""
    nullable: bool = False


def _type_name(node: ast.expr, line: str) -> tuple[str, bool]:
    """Map an annotation to (type name, nullable)."""
    if isinstance(node, ast.Constant) and node.value is None:
        return "none", True
    if isinstance(node, ast.Name) and node.id in PARAMETER_TYPES:
        return node.id, False
    if isinstance(node, ast.Subscript):
        base = node.value
        if isinstance(base, ast.Name) and base.id in ("list", "dict"):
            return base.id, False
        if isinstance(base, ast.Name) and base.id == "Optional":
            return _type_name(node.slice, line)[0], True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = _type_name(node.left, line), _type_name(node.right, line)
        kinds = {left[0], right[0]} - {"none"}
        if len(kinds) == 1 and "none" in (left[0], right[0]):
            return kinds.pop(), True
    msg = (
        f"Parameter line {line.strip()!r} has an unsupported type: use one of "
        f"{', '.join(PARAMETER_TYPES)} (optionally '| None')."
    )
    raise InvalidInputError(msg)


def _inferred_type(value: Any) -> str:
    for name, kind in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if isinstance(value, kind):
            return name
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "dict"
    return "any"


def parameters_cell(nb: Any) -> Any | None:
    """Return the notebook's cell tagged ``parameters``, or None if there is none.

    Parameters
    ----------
    nb : dict or nbformat.NotebookNode
        The notebook (as read by :func:`read_notebook`).

    Raises
    ------
    ValueError
        If more than one cell is tagged ``parameters``.

    Examples
    --------
    >>> from nbformat.v4 import new_notebook, new_code_cell
    >>> nb = new_notebook(cells=[new_code_cell("x = 1")])
    >>> parameters_cell(nb) is None
    True
    """
    cells = [
        c
        for c in nb["cells"]
        if c["cell_type"] == "code"
        and "parameters" in c.get("metadata", {}).get("tags", [])
    ]
    if len(cells) > 1:
        msg = (
            f"The notebook has {len(cells)} cells tagged 'parameters'; keep the tag on "
            "exactly one cell."
        )
        raise InvalidInputError(msg)
    return cells[0] if cells else None


def _parse_source(source: str) -> dict[str, Parameter]:
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        msg = f"The parameters cell is not valid Python ({err.msg}, line {err.lineno})."
        raise InvalidInputError(msg) from err
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    lines = source.splitlines()
    declared: dict[str, Parameter] = {}
    for stmt in tree.body:
        line = lines[stmt.lineno - 1]
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            name, annotation, value_node = stmt.target.id, stmt.annotation, stmt.value
        elif (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
        ):
            name, annotation, value_node = stmt.targets[0].id, None, stmt.value
        else:
            msg = (
                f"Parameters cell line {stmt.lineno} ({line.strip()!r}) is not of the "
                "form 'name: type = default  # help'; move other code to another cell."
            )
            raise InvalidInputError(msg)
        if value_node is None:
            msg = f"Parameter {name!r} has no default: write '{line.strip()} = ...'."
            raise InvalidInputError(msg)
        try:
            default = ast.literal_eval(value_node)
        except ValueError as err:
            msg = (
                f"Parameter {name!r} has a default that is not a literal "
                f"({ast.unparse(value_node)}); write the value itself."
            )
            raise InvalidInputError(msg) from err
        if annotation is None:
            kind, nullable = _inferred_type(default), default is None
        else:
            kind, nullable = _type_name(annotation, line)
            if kind == "none":
                kind = "any"
        param = Parameter(name, kind, default, comments.get(stmt.lineno, ""), nullable)
        default = check_value(param, default, where="default")
        declared[name] = Parameter(name, kind, default, param.help, nullable)
    return declared


def notebook_parameters(notebook: str | os.PathLike[str] | Any) -> dict[str, Parameter]:
    """Read the parameters declared in a notebook's ``parameters`` cell.

    Parameters
    ----------
    notebook : path-like, dict or nbformat.NotebookNode
        The notebook.

    Returns
    -------
    dict
        Name → :class:`Parameter`, in the cell's order; empty if the notebook has no
        ``parameters`` cell.

    Raises
    ------
    OSError
        If the file cannot be read.
    ValueError
        If the cell holds anything but ``name: type = literal`` lines, or a default
        does not match its type.

    Examples
    --------
    >>> from nbformat.v4 import new_notebook, new_code_cell
    >>> cell = new_code_cell('seed: int = 0  # random seed\\nC: float = 1')
    >>> cell.metadata["tags"] = ["parameters"]
    >>> params = notebook_parameters(new_notebook(cells=[cell]))
    >>> params["seed"]
    Parameter(name='seed', type='int', default=0, help='random seed', nullable=False)
    >>> params["C"].default
    1.0
    """
    nb = (
        read_notebook(notebook) if isinstance(notebook, str | os.PathLike) else notebook
    )
    cell = parameters_cell(nb)
    if cell is None:
        return {}
    return _parse_source(cell_source(cell))


def cell_source(cell: Mapping[str, Any]) -> str:
    """Return a cell's source as one string (notebook files may store a list of lines).

    Examples
    --------
    >>> cell_source({"source": ["a = 1\\n", "b = 2"]})
    'a = 1\\nb = 2'
    """
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def read_notebook(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a notebook file as plain JSON (nbformat 4), without validating it.

    Parameters
    ----------
    path : path-like
        The ``.ipynb`` file.

    Returns
    -------
    dict
        The notebook, with each cell's source joined into one string.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not an nbformat 4 notebook.

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "nb.ipynb"
    >>> _ = path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5,
    ...     "metadata": {}, "cells": [{"cell_type": "code", "source": ["x = 1"]}]}))
    >>> read_notebook(path)["cells"][0]["source"]
    'x = 1'
    """
    path = Path(path)
    try:
        nb = json.loads(path.read_text("utf-8"))
    except FileNotFoundError as err:
        msg = f"Notebook {path} does not exist; check the path."
        raise MissingFileError(msg) from err
    except ValueError as err:
        msg = f"{path} is not a notebook (invalid JSON: {err})."
        raise InvalidInputError(msg) from err
    if not isinstance(nb, dict) or nb.get("nbformat") != 4 or "cells" not in nb:
        msg = (
            f"{path} is not an nbformat 4 notebook; open and save it in JupyterLab, or "
            "run `jupyter nbconvert --to notebook --inplace` on it."
        )
        raise InvalidInputError(msg)
    nb.setdefault("metadata", {})
    for cell in nb["cells"]:
        cell["source"] = cell_source(cell)
        cell.setdefault("metadata", {})
    return nb


def _json_native(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_json_native(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_native(v) for k, v in value.items())
    return False


def check_value(param: Parameter, value: Any, *, where: str = "") -> Any:
    """Check ``value`` against ``param``'s type and return it normalised.

    Ints given for a float parameter become floats, so that ``1`` and ``1.0`` name
    the same run.

    Raises
    ------
    ValueError
        If the value has the wrong type or is not JSON data.

    Examples
    --------
    >>> check_value(Parameter("C", "float", 1.0), 2)
    2.0
    >>> check_value(Parameter("seed", "int", 0), "3")
    Traceback (most recent call last):
    ...
    squad.errors.InvalidInputError: Parameter 'seed' must be int; got '3' (str).
    """
    suffix = f" ({where})" if where else ""
    if value is None and (param.nullable or param.type == "any"):
        return None
    kind = param.type
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "list": isinstance(value, list),
        "dict": isinstance(value, dict),
        "any": True,
    }[kind]
    if not ok:
        null = " or None" if param.nullable else ""
        msg = (
            f"Parameter {param.name!r} must be {kind}{null}; got {value!r} "
            f"({type(value).__name__}){suffix}."
        )
        raise InvalidInputError(msg)
    if not _json_native(value):
        msg = (
            f"Parameter {param.name!r} got {value!r}{suffix}, which is not JSON data: "
            "use numbers, strings, booleans, lists and dicts with string keys."
        )
        raise InvalidInputError(msg)
    if kind == "float":
        return float(value)
    return value


def parse_value(text: str, param: Parameter | None = None) -> Any:
    """Parse a command-line value as a YAML scalar (``3``, ``0.5``, ``true``, ``[1, 2]``).

    For a ``str`` parameter the text is taken as it is, so ``-p code 0123`` stays a
    string; digits alone are a decimal integer (YAML 1.1 would read ``0123`` as
    octal).

    Parameters
    ----------
    text : str
        The text given on the command line.
    param : Parameter, optional
        The declared parameter, if known.

    Returns
    -------
    object

    Raises
    ------
    ValueError
        If the text is not valid YAML.

    Examples
    --------
    >>> parse_value("0.5"), parse_value("true"), parse_value("[a, b]")
    (0.5, True, ['a', 'b'])
    >>> parse_value("0123", Parameter("code", "str", "")), parse_value("0123")
    ('0123', 123)
    >>> parse_value("1e-5"), parse_value("{alpha: 1e-5, n: 1E3}")
    (1e-05, {'alpha': 1e-05, 'n': 1000.0})
    """
    if param is not None and param.type == "str":
        return text
    if _DECIMAL.fullmatch(text.strip()):  # YAML 1.1 would read 0123 as octal
        return int(text)
    try:
        return _load_yaml(text) if text.strip() else text
    except yaml.YAMLError as err:
        name = f" for {param.name!r}" if param else ""
        msg = f"Value {text!r}{name} is not a valid YAML value ({err.problem})."
        raise InvalidInputError(msg) from err


def resolve_parameters(
    values: Mapping[str, Any], declared: Mapping[str, Parameter], *, where: str = ""
) -> dict[str, Any]:
    """Validate ``values`` and fill in defaults for every declared parameter.

    Parameters
    ----------
    values : mapping
        Name → value for one run.
    declared : mapping
        Name → :class:`Parameter`, from :func:`notebook_parameters`.
    where : str, default=""
        Where the values come from, for error messages.

    Returns
    -------
    dict
        Every declared parameter, in declaration order.

    Raises
    ------
    ValueError
        On an unknown name (the message lists the declared ones) or a bad value.

    Examples
    --------
    >>> declared = {"seed": Parameter("seed", "int", 0)}
    >>> resolve_parameters({}, declared)
    {'seed': 0}
    >>> resolve_parameters({"sede": 1}, declared)
    Traceback (most recent call last):
    ...
    squad.errors.InvalidInputError: Unknown parameter 'sede'. The notebook declares: seed.
    """
    suffix = f" ({where})" if where else ""
    for name in values:
        if name not in declared:
            known = ", ".join(declared) or "no parameters"
            msg = f"Unknown parameter {name!r}{suffix}. The notebook declares: {known}."
            raise InvalidInputError(msg)
    resolved = {}
    for name, param in declared.items():
        if name in values:
            resolved[name] = check_value(param, values[name], where=where)
        else:
            resolved[name] = param.default
    return resolved


def _mapping(value: Any, what: str, path: Path) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        msg = (
            f"Grid file {path}: {what} must be a mapping of parameter names to values."
        )
        raise InvalidInputError(msg)
    return dict(value)


def expand_grid(spec: Mapping[str, Any], *, source: str = "grid") -> list[dict]:
    """Expand a grid specification (``base``, ``grid``, ``runs``) into runs.

    Parameters
    ----------
    spec : mapping
        As in a grid file; see the module docstring.
    source : str, default="grid"
        Name used in error messages (e.g. the file name).

    Returns
    -------
    list of dict
        One dict of parameter values per run (not yet validated).

    Raises
    ------
    ValueError
        On unknown keys, or grid values that are not non-empty lists.

    Examples
    --------
    >>> expand_grid({"base": {"d": "x"}, "grid": {"m": ["a", "b"], "s": [0, 1]},
    ...              "runs": [{"m": "c"}]})  # doctest: +NORMALIZE_WHITESPACE
    [{'d': 'x', 'm': 'a', 's': 0}, {'d': 'x', 'm': 'a', 's': 1},
     {'d': 'x', 'm': 'b', 's': 0}, {'d': 'x', 'm': 'b', 's': 1}, {'d': 'x', 'm': 'c'}]
    """
    path = Path(source)
    if not isinstance(spec, Mapping):
        msg = f"Grid file {source} must be a mapping with keys base, grid and/or runs."
        raise InvalidInputError(msg)
    unknown = [key for key in spec if key not in _GRID_KEYS]
    if unknown:
        msg = (
            f"Grid file {source} has unknown key {unknown[0]!r}; use base, grid "
            "and/or runs."
        )
        raise InvalidInputError(msg)
    base = _mapping(spec.get("base"), "'base'", path)
    grids = spec.get("grid") or []
    if isinstance(grids, Mapping):
        grids = [grids]
    if not isinstance(grids, list):
        msg = f"Grid file {source}: 'grid' must be a mapping (or a list of mappings)."
        raise InvalidInputError(msg)
    runs: list[dict] = []
    for grid in grids:
        grid = _mapping(grid, "each 'grid'", path)
        for name, values in grid.items():
            if not isinstance(values, list) or not values:
                msg = (
                    f"Grid file {source}: grid value of {name!r} must be a non-empty "
                    f"list; got {values!r}. Put single values under 'base'."
                )
                raise InvalidInputError(msg)
        for combo in itertools.product(*grid.values()):
            runs.append({**base, **dict(zip(grid, combo, strict=True))})
    explicit = spec.get("runs") or []
    if not isinstance(explicit, list):
        msg = f"Grid file {source}: 'runs' must be a list of mappings."
        raise InvalidInputError(msg)
    for item in explicit:
        runs.append({**base, **_mapping(item, "each item of 'runs'", path)})
    if not grids and not explicit:
        runs.append(dict(base))
    return runs


def read_grid(path: str | os.PathLike[str]) -> list[dict]:
    """Read a grid file and return its runs (see :func:`expand_grid`).

    Raises
    ------
    OSError
        If the file cannot be read.
    ValueError
        If it is not valid YAML or not a grid.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> grid = pathlib.Path(tempfile.mkdtemp()) / "nb.grid.yml"
    >>> _ = grid.write_text("grid:\\n  seed: [0, 1]\\n")
    >>> read_grid(grid)
    [{'seed': 0}, {'seed': 1}]
    """
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError as err:
        msg = f"Grid file {path} does not exist; check the path."
        raise MissingFileError(msg) from err
    try:
        spec = _load_yaml(text)
    except yaml.YAMLError as err:
        msg = f"Grid file {path} is not valid YAML: {err}".replace("\n", " ")
        raise InvalidInputError(msg) from err
    return expand_grid(spec or {}, source=str(path))


def canonical_json(value: Any) -> str:
    """Return the canonical JSON text of ``value`` (sorted keys, no spaces).

    Examples
    --------
    >>> canonical_json({"b": 1, "a": [1.0, "x"]})
    '{"a":[1.0,"x"],"b":1}'
    """
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
