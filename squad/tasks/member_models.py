"""Members' own models: a factory in a Python file, or one an installed package registers.

Besides the registered names (:data:`squad.tasks.models.MODELS`), the ``model`` of a coding
run may be

``path/to/file.py:factory``
    A function in a member's own file. The path is relative to the working folder (for
    ``squad run -p model ...``) or to the grid file that names it. The file's sha256 goes
    into the run id and the run's provenance, so two versions of a file are two runs.
``name`` of an entry point in the group ``squad.models``
    For a package a member installs, declared in its ``pyproject.toml``::

        [project.entry-points."squad.models"]
        my_coder = "my_package.coders:make_coder"

    The package's name and version go into the run id and the provenance.

The factory is called as ``factory(seed=seed, **settings)`` and returns an unfitted
object with ``fit(texts, codes)``, ``predict_proba(texts)`` and, once fitted, ``classes_``
(any scikit-learn classifier over strings qualifies). Its other keyword arguments are the
model's settings: a setting it does not name is refused before any run starts, unless
it takes ``**kwargs``. :func:`check_model` builds it and tries it on a few toy texts
while the sweep is planned, so a broken factory stops the sweep before any run starts.

A sweep does not trust a worker's disk for the file: the source read (and hashed) while
planning travels with each run and is written into the run folder as
``.squad-models.json``; the kernel loads the model from that copy after checking its
sha256 (:func:`member_factory`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import types
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from squad.errors import FileProblemError, InvalidInputError, MissingFileError

__all__ = [
    "ENTRY_POINT_GROUP",
    "MANIFEST_FILE",
    "check_model",
    "member_factory",
    "model_manifest",
    "parse_file_spec",
    "resolve_model",
]

logger = logging.getLogger("squad")

ENTRY_POINT_GROUP = "squad.models"
#: Hidden file in a run folder with the member code the run uses (not collected).
MANIFEST_FILE = ".squad-models.json"
_REQUIRED = ("fit", "predict_proba")

#: Toy texts a factory's model is tried on before a sweep starts: 3 classes x 10 texts.
_TOY_TEXTS = [
    f"{stem} {size}"
    for stem in ("fresh apple juice", "whole milk carton", "wool winter sweater")
    for size in (
        "small",
        "large",
        "pack",
        "bottle",
        "box",
        "bag",
        "new",
        "red",
        "x",
        "y",
    )
]
_TOY_CODES = [code for code in ("01", "02", "03") for _ in range(10)]


def parse_file_spec(model: str) -> tuple[str, str] | None:
    """Split ``path/to/file.py:factory`` into (path, factory); None for a plain name.

    Raises
    ------
    ValueError
        If ``model`` has a ``:`` but is not of that form.

    Examples
    --------
    >>> parse_file_spec("notebooks/my_coder.py:make_coder")
    ('notebooks/my_coder.py', 'make_coder')
    >>> parse_file_spec("tfidf_logreg") is None
    True
    """
    if ":" not in model:
        return None
    path, _, factory = model.rpartition(":")
    if not path.endswith(".py") or not factory.isidentifier():
        msg = (
            f"Model {model!r} is neither a registered name nor of the form "
            "path/to/file.py:factory (a Python file and a function in it)."
        )
        raise InvalidInputError(msg)
    return path, factory


def _registered() -> list[str]:
    from squad.tasks.models import MODELS

    return list(MODELS)


def _entry_point(name: str) -> metadata.EntryPoint | None:
    found = metadata.entry_points(group=ENTRY_POINT_GROUP, name=name)
    return next(iter(found), None)


def _unknown(model: str, where: str) -> InvalidInputError:
    suffix = f" ({where})" if where else ""
    installed = sorted(ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP))
    extra = f"; installed: {', '.join(installed)}" if installed else ""
    msg = (
        f"Unknown model {model!r}{suffix}. Available: {', '.join(_registered())}"
        f"{extra}; or a file of your own as path/to/file.py:factory."
    )
    return InvalidInputError(msg)


def resolve_model(
    model: str, *, base_dir: str | Path | None = None, where: str = ""
) -> dict[str, Any] | None:
    """Say which code a model name stands for.

    Parameters
    ----------
    model : str
        A registered name, ``path/to/file.py:factory`` or an entry-point name.
    base_dir : path-like, optional
        Folder a relative file path is relative to (default: the working folder).
    where : str, default=""
        Where the name comes from, for error messages.

    Returns
    -------
    dict or None
        None for a registered model. For a file: ``kind="file"``, ``spec``, ``path``
        (absolute), ``factory``, ``sha256`` and ``source`` (the text). For an entry
        point: ``kind="entry_point"``, ``spec``, ``target``, ``package``, ``version``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the name is unknown or the file is not UTF-8 text.

    Examples
    --------
    >>> resolve_model("complement_nb") is None
    True
    >>> resolve_model("no_such_model")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    squad.errors.InvalidInputError: Unknown model 'no_such_model'. Available: lookup, ...
    """
    if model in _registered():
        return None
    spec = parse_file_spec(model)
    if spec is None:
        entry = _entry_point(model)
        if entry is None:
            raise _unknown(model, where)
        dist = entry.dist
        return {
            "kind": "entry_point",
            "spec": model,
            "target": entry.value,
            "package": dist.name if dist else None,
            "version": dist.version if dist else None,
        }
    file, factory = spec
    path = Path(file)
    if not path.is_absolute():
        path = Path(base_dir or Path.cwd()) / path
    suffix = f" ({where})" if where else ""
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        msg = f"Model file {path} does not exist{suffix}; check the path in {model!r}."
        raise MissingFileError(msg) from err
    except OSError as err:
        msg = f"Cannot read model file {path}{suffix}: {err.strerror or err}."
        raise FileProblemError(msg) from err
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError as err:
        msg = f"Model file {path} is not UTF-8 text{suffix}; save it as UTF-8."
        raise InvalidInputError(msg) from err
    return {
        "kind": "file",
        "spec": model,
        "path": str(path.resolve()),
        "factory": factory,
        "sha256": hashlib.sha256(data).hexdigest(),
        "source": source,
    }


#: What member code may raise that must become a one-line error, not end the kit:
#: ``sys.exit()`` in a model file would otherwise quit ``squad run`` silently, with its code.
_MEMBER_ERRORS = (Exception, SystemExit)


def _exited(spec: str, step: str, err: SystemExit) -> InvalidInputError:
    return InvalidInputError(
        f"Model {spec!r} called sys.exit({err.code!r}) in {step}; a model must return "
        "or raise, not exit."
    )


def _load_factory(code: Mapping[str, Any]) -> Callable[..., Any]:
    """The factory function of resolved member code (a file's source or an entry point)."""
    if code["kind"] == "entry_point":
        entry = _entry_point(code["spec"])
        if entry is None:
            raise _unknown(code["spec"], "")
        try:
            return entry.load()
        except _MEMBER_ERRORS as err:
            msg = (
                f"Model {code['spec']!r} (entry point {entry.value}) failed to load: "
                f"{type(err).__name__}: {err}"
            )
            raise InvalidInputError(msg) from err
    name = f"squad_member_model_{code['sha256'][:16]}"
    module = sys.modules.get(name)
    if module is None:
        module = types.ModuleType(name)
        module.__file__ = code["path"]
        # Registered so that pickle finds the member's classes by reference.
        sys.modules[name] = module
        try:
            # Windows editors often save UTF-8 with a byte-order mark, which Python
            # itself accepts; the source keeps it so that its sha256 is the file's.
            source = code["source"].removeprefix("\ufeff")
            exec(compile(source, code["path"], "exec"), module.__dict__)
        except _MEMBER_ERRORS as err:
            del sys.modules[name]
            msg = (
                f"Model file {code['path']} failed to load: "
                f"{type(err).__name__}: {err}".replace("\n", " ")
            )
            raise InvalidInputError(msg) from err
    factory = getattr(module, code["factory"], None)
    if not callable(factory):
        defined = sorted(
            n
            for n, v in vars(module).items()
            if callable(v) and not n.startswith("_") and v.__module__ == name
        )
        msg = (
            f"Model file {code['path']} has no function {code['factory']!r}; it "
            f"defines: {', '.join(defined) or 'no functions'}."
        )
        raise InvalidInputError(msg)
    return factory


def _build(
    code: Mapping[str, Any], seed: int, settings: Mapping[str, Any], where: str
) -> Any:
    from squad.tasks.models import check_settings, factory_settings

    factory = _load_factory(code)
    # Unknown keys are refused unless the factory takes **kwargs (then at its word).
    check_settings(code["spec"], settings, factory_settings(factory), where=where)
    try:
        return factory(seed=seed, **settings)
    except _MEMBER_ERRORS as err:
        msg = (
            f"Model {code['spec']!r}: factory(seed={seed}, **{dict(settings)!r}) "
            f"raised {type(err).__name__}: {err}"
        ).replace("\n", " ")
        raise InvalidInputError(msg) from err


def _try_on_toy_texts(spec: str, estimator: Any) -> None:
    """Fit on 30 toy texts; refuse a model without ``classes_`` or a bad probability
    table. A model that cannot learn from so little is only warned about."""
    try:
        estimator.fit(list(_TOY_TEXTS), np.array(_TOY_CODES))
    except SystemExit as err:
        raise _exited(spec, "fit", err) from err
    except Exception as err:
        logger.warning(
            "Model %r could not be tried on %s toy texts (%s: %s); it is checked when "
            "it runs.",
            spec,
            len(_TOY_TEXTS),
            type(err).__name__,
            err,
        )
        return
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        msg = (
            f"Model {spec!r} has no classes_ after fit: set it to the codes in the "
            "order of predict_proba's columns."
        )
        raise InvalidInputError(msg)
    try:
        n_classes = len(classes)
    except TypeError as err:
        msg = (
            f"Model {spec!r}: classes_ is a {type(classes).__name__}, not a sequence of "
            "codes; set it to the codes in the order of predict_proba's columns."
        )
        raise InvalidInputError(msg) from err
    try:
        proba = np.asarray(estimator.predict_proba(_TOY_TEXTS[:4]), dtype=float)
    except _MEMBER_ERRORS as err:
        msg = (
            f"Model {spec!r}: predict_proba on 4 toy texts raised "
            f"{type(err).__name__}: {err}; it must return a table of probabilities."
        ).replace("\n", " ")
        raise InvalidInputError(msg) from err
    if proba.shape != (4, n_classes):
        msg = (
            f"Model {spec!r}: predict_proba of 4 texts has shape {proba.shape}; it "
            f"must be (4, len(classes_)) = (4, {n_classes})."
        )
        raise InvalidInputError(msg)


def check_model(
    model: str,
    *,
    seed: int = 0,
    settings: Mapping[str, Any] | None = None,
    base_dir: str | Path | None = None,
    where: str = "",
) -> dict[str, Any] | None:
    """Check that ``model`` builds a usable coder; say which member code it is.

    The settings are checked against the model's: a registered model's (see
    :func:`squad.tasks.models.model_settings`) or the keyword arguments of a member's
    factory, which takes any if it takes ``**kwargs``. A member's factory is then
    called and its object checked for ``fit`` and ``predict_proba``, then fitted on 30
    toy texts and checked for ``classes_`` and the shape of its probabilities.

    Parameters
    ----------
    model : str
        As in :func:`resolve_model`.
    seed : int, default=0
    settings : mapping, optional
        Passed to the factory as keyword arguments.
    base_dir : path-like, optional
        See :func:`resolve_model`.
    where : str, default=""
        For error messages.

    Returns
    -------
    dict or None
        :func:`resolve_model`'s answer.

    Raises
    ------
    ValueError
        Naming what is missing or what failed, or the settings the model does not
        take.
    FileNotFoundError
        If a model file does not exist.

    Examples
    --------
    >>> check_model("complement_nb", settings={"alpa": 0.1}, where="given with -p")
    Traceback (most recent call last):
    ...
    squad.errors.InvalidInputError: Model 'complement_nb' has no setting 'alpa' (given with -p). Its settings: alpha. Correct the name or leave it out.
    """
    code = resolve_model(model, base_dir=base_dir, where=where)
    if code is None:
        from squad.tasks.models import check_settings, model_settings

        check_settings(model, settings or {}, model_settings(model), where=where)
        return None
    estimator = _build(code, seed, settings or {}, where)
    missing = [
        name for name in _REQUIRED if not callable(getattr(estimator, name, None))
    ]
    if missing:
        suffix = f" ({where})" if where else ""
        msg = (
            f"Model {model!r}{suffix}: the factory's {type(estimator).__name__} has no "
            f"{' and no '.join(missing)}; a model needs fit, predict_proba and classes_."
        )
        raise InvalidInputError(msg)
    _try_on_toy_texts(model, estimator)
    return code


def model_manifest(codes: Mapping[str, Mapping[str, Any]]) -> str:
    """The ``.squad-models.json`` text shipped with a run: spec -> sha256 and source."""
    entries = {
        spec: {"path": code["path"], "sha256": code["sha256"], "source": code["source"]}
        for spec, code in codes.items()
        if code.get("kind") == "file"
    }
    return json.dumps(entries, sort_keys=True)


def _shipped(model: str) -> dict[str, Any] | None:
    from squad.record import current_run_dir

    folder = current_run_dir()
    manifest = folder / MANIFEST_FILE if folder is not None else None
    if manifest is None or not manifest.is_file():
        return None
    entry = json.loads(manifest.read_text("utf-8")).get(model)
    if entry is None:
        return None
    actual = hashlib.sha256(entry["source"].encode("utf-8")).hexdigest()
    if actual != entry["sha256"]:
        msg = (
            f"The copy of model file {entry['path']} shipped with this run has sha256 "
            f"{actual[:12]}, not the planned {entry['sha256'][:12]}; rerun the sweep."
        )
        raise FileProblemError(msg)
    file, factory = parse_file_spec(model) or ("", "")
    return {"kind": "file", "spec": model, "factory": factory, **entry}


def member_factory(model: str) -> Callable[..., Any]:
    """The factory a member's model name stands for, inside a notebook.

    In a sweep, a file's source comes from the copy shipped with the run (its sha256
    checked); otherwise the file is read relative to the working folder.

    Raises
    ------
    ValueError, FileNotFoundError
        As :func:`resolve_model`.
    """
    code = _shipped(model) if parse_file_spec(model) else None
    if code is None:
        code = resolve_model(model)
    if code is None:  # a registered name
        from squad.tasks.models import MODELS

        return MODELS[model]
    return _load_factory(code)
