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
it takes ``**kwargs``. :func:`squad.tasks.registry.check_model` builds it and tries it on a few toy texts
while the sweep is planned, so a broken factory stops the sweep before any run starts.

A sweep does not trust a worker's disk for the file: the source read (and hashed) while
planning travels with each run and is written into the run folder as
``.squad-models.json``; the kernel loads the model from that copy after checking its
sha256 (:func:`shipped_code`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import types
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any

import numpy as np

from squad.errors import FileProblemError, InvalidInputError

__all__ = [
    "ENTRY_POINT_GROUP",
    "MANIFEST_FILE",
    "MEMBER_ERRORS",
    "REQUIRED_METHODS",
    "entry_point",
    "load_factory",
    "model_manifest",
    "parse_file_spec",
    "shipped_code",
    "try_on_toy_texts",
]

logger = logging.getLogger("squad")

ENTRY_POINT_GROUP = "squad.models"
#: Hidden file in a run folder with the member code the run uses (not collected).
MANIFEST_FILE = ".squad-models.json"
#: What a member's model must have besides ``classes_`` once fitted.
REQUIRED_METHODS = ("fit", "predict_proba")

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


def entry_point(name: str) -> metadata.EntryPoint | None:
    """The installed entry point ``name`` of the group ``squad.models``, if any."""
    found = metadata.entry_points(group=ENTRY_POINT_GROUP, name=name)
    return next(iter(found), None)


#: What member code may raise that must become a one-line error, not end the kit:
#: ``sys.exit()`` in a model file would otherwise quit ``squad run`` silently, with its code.
MEMBER_ERRORS = (Exception, SystemExit)


def _exited(spec: str, step: str, err: SystemExit) -> InvalidInputError:
    return InvalidInputError(
        f"Model {spec!r} called sys.exit({err.code!r}) in {step}; a model must return "
        "or raise, not exit."
    )


def load_factory(code: Mapping[str, Any]) -> Callable[..., Any]:
    """The factory function of resolved member code (a file's source or an entry point)."""
    if code["kind"] == "entry_point":
        entry = entry_point(code["spec"])
        if entry is None:
            msg = (
                f"Model {code['spec']!r} is no longer installed (entry point group "
                f"{ENTRY_POINT_GROUP}); install its package again."
            )
            raise InvalidInputError(msg)
        try:
            return entry.load()
        except MEMBER_ERRORS as err:
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
        except MEMBER_ERRORS as err:
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


def try_on_toy_texts(spec: str, estimator: Any) -> None:
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
    except MEMBER_ERRORS as err:
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


def model_manifest(codes: Mapping[str, Mapping[str, Any]]) -> str:
    """The ``.squad-models.json`` text shipped with a run: spec -> sha256 and source."""
    entries = {
        spec: {"path": code["path"], "sha256": code["sha256"], "source": code["source"]}
        for spec, code in codes.items()
        if code.get("kind") == "file"
    }
    return json.dumps(entries, sort_keys=True)


def shipped_code(model: str) -> dict[str, Any] | None:
    """The member code shipped with this run for ``model`` (its sha256 checked), if any.

    Raises
    ------
    squad.errors.FileProblemError
        If the shipped copy does not match the sha256 planned with it.
    """
    from squad.records import current_run_dir

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
