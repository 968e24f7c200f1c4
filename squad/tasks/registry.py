"""What a model value stands for, decided in one place.

The ``model`` of a coding run is one of

- a registered name (:data:`squad.tasks.models.MODELS`: the kit's coders);
- ``path/to/file.py:factory``, a member's own file;
- the name of an installed entry point of the group ``squad.models``.

:func:`resolve_model` says which, :func:`model_settings` and :func:`check_settings`
which settings a model takes (a factory's keyword arguments), :func:`check_model`
builds and tries a member's model before a sweep starts, and :func:`make_model` builds
any of them, inside a notebook too. The sweep's checks (:mod:`squad.runs.checks`), the
sweep and the coding task all come here; :mod:`squad.tasks.models` holds the coders and
:mod:`squad.tasks.member_models` loads members' code, and neither imports the other.
``squad.models`` is this module's short name.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from squad.errors import FileProblemError, InvalidInputError, MissingFileError
from squad.tasks.member_models import (
    ENTRY_POINT_GROUP,
    MEMBER_ERRORS,
    REQUIRED_METHODS,
    entry_point,
    load_factory,
    parse_file_spec,
    shipped_code,
    try_on_toy_texts,
)
from squad.tasks.models import MODELS
from squad.tasks.text import normalise_text

__all__ = [
    "SUPPLIED",
    "member_factory",
    "check_model",
    "check_settings",
    "factory_settings",
    "list_models",
    "make_model",
    "model_settings",
    "normalise_text",
    "resolve_model",
]


def _unknown(model: str, where: str) -> InvalidInputError:
    suffix = f" ({where})" if where else ""
    installed = sorted(ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP))
    extra = f"; installed: {', '.join(installed)}" if installed else ""
    msg = (
        f"Unknown model {model!r}{suffix}. Available: {', '.join(MODELS)}"
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
    if model in MODELS:
        return None
    spec = parse_file_spec(model)
    if spec is None:
        entry = entry_point(model)
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


def _build(
    code: Mapping[str, Any], seed: int, settings: Mapping[str, Any], where: str
) -> Any:
    factory = load_factory(code)
    # Unknown keys are refused unless the factory takes **kwargs (then at its word).
    check_settings(code["spec"], settings, factory_settings(factory), where=where)
    try:
        return factory(seed=seed, **settings)
    except MEMBER_ERRORS as err:
        msg = (
            f"Model {code['spec']!r}: factory(seed={seed}, **{dict(settings)!r}) "
            f"raised {type(err).__name__}: {err}"
        ).replace("\n", " ")
        raise InvalidInputError(msg) from err


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
    :func:`model_settings`) or the keyword arguments of a member's
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
        check_settings(model, settings or {}, model_settings(model), where=where)
        return None
    estimator = _build(code, seed, settings or {}, where)
    missing = [
        name
        for name in REQUIRED_METHODS
        if not callable(getattr(estimator, name, None))
    ]
    if missing:
        suffix = f" ({where})" if where else ""
        msg = (
            f"Model {model!r}{suffix}: the factory's {type(estimator).__name__} has no "
            f"{' and no '.join(missing)}; a model needs fit, predict_proba and classes_."
        )
        raise InvalidInputError(msg)
    try_on_toy_texts(model, estimator)
    return code


#: What :func:`make_model` gives a registered factory itself: none of them is a setting.
SUPPLIED = ("seed", "dataset")


def list_models() -> list[str]:
    """Return the registered model names.

    Examples
    --------
    >>> list_models()[:2]
    ['lookup', 'tfidf_logreg']
    """
    return list(MODELS)


def factory_settings(
    factory: Callable[..., Any], *, supplied: Sequence[str] = ("seed",)
) -> tuple[str, ...] | None:
    """Return the settings a model factory takes: its keyword arguments.

    Parameters
    ----------
    factory : callable
        A model factory (a function or a class).
    supplied : sequence of str, default=("seed",)
        Arguments the caller gives the factory itself, which are not settings.

    Returns
    -------
    tuple of str or None
        The names of its other arguments that can be given by keyword, in order; None
        if it takes ``**kwargs`` (any setting) or its signature cannot be read.

    Examples
    --------
    >>> def make(seed=0, alpha=1.0, *, C=2.0):
    ...     pass
    >>> factory_settings(make)
    ('alpha', 'C')
    >>> factory_settings(lambda seed=0, **kwargs: None) is None
    True
    """
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin without a readable signature
        return None
    names = []
    for param in signature.parameters.values():
        if param.kind is param.VAR_KEYWORD:
            return None
        keyword = param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)
        if keyword and param.name not in supplied:
            names.append(param.name)
    return tuple(names)


def model_settings(name: str) -> tuple[str, ...]:
    """Return the settings registered model ``name`` accepts, from its factory.

    Raises
    ------
    ValueError
        If ``name`` is not a registered model.

    Examples
    --------
    >>> model_settings("complement_nb")
    ('alpha',)
    >>> model_settings("lookup")
    ()
    """
    if name not in MODELS:
        msg = (
            f"Model {name!r} is not a registered model. Registered: "
            f"{', '.join(MODELS)}."
        )
        raise InvalidInputError(msg)
    return factory_settings(MODELS[name], supplied=SUPPLIED) or ()


def check_settings(
    model: str,
    settings: Mapping[str, Any],
    accepted: Sequence[str] | None,
    *,
    where: str = "",
) -> None:
    """Refuse settings a model does not take.

    Parameters
    ----------
    model : str
        The model's name, for the message.
    settings : mapping
        The settings given.
    accepted : sequence of str or None
        The settings the model takes (:func:`model_settings`,
        :func:`factory_settings`); None takes any.
    where : str, default=""
        Where the settings come from, for the message.

    Raises
    ------
    ValueError
        Naming the unknown settings and the accepted ones.

    Examples
    --------
    >>> check_settings("complement_nb", {"alpa": 0.1}, ("alpha",))
    Traceback (most recent call last):
    ...
    squad.errors.InvalidInputError: Model 'complement_nb' has no setting 'alpa'. Its settings: alpha. Correct the name or leave it out.
    """
    if accepted is None:
        return
    unknown = [str(key) for key in settings if key not in accepted]
    if not unknown:
        return
    suffix = f" ({where})" if where else ""
    plural = len(unknown) > 1
    given = f"{'s' if plural else ''} {', '.join(repr(key) for key in unknown)}"
    if accepted:
        them = "names or leave them" if plural else "name or leave it"
        advice = f"Its settings: {', '.join(accepted)}. Correct the {them} out."
    else:
        advice = "It takes none; leave its settings empty."
    msg = f"Model {model!r} has no setting{given}{suffix}. {advice}"
    raise InvalidInputError(msg)


def make_model(
    name: str, *, seed: int = 0, dataset: str | None = None, **settings: Any
):
    """Build the registered model ``name``.

    Parameters
    ----------
    name : str
        One of :func:`list_models`, a member's ``path/to/file.py:factory`` or an
        installed ``squad.models`` entry point (see :mod:`squad.tasks.member_models`).
    seed : int, default=0
        Random state for models that use one.
    dataset : str, default=None
        The catalogue dataset being coded, for registered models that use its metadata
        (``svc_fasttext_hierarchy`` learns from its classification's titles); members'
        factories are not given it.
    **settings
        Model settings, the keyword arguments of the model's factory (see
        :func:`model_settings`): ``C`` for the linear models, ``temperature`` for the
        SVM's softmax, ``alpha`` for SGD and naive Bayes, ``dim``, ``epochs`` and
        ``learning_rate`` for ``fasttext_style``, ``weight`` for the blends,
        ``logreg_weight``, ``pooling`` ("arithmetic" or "geometric"), ``level``,
        ``level_weight``, ``titles`` ("dataset": the titles of ``dataset``'s
        classification, where it has one; a dataset name; a code -> title mapping;
        None for none), ``title_repeat`` and ``description_repeat`` for
        ``svc_fasttext_hierarchy``. A member's factory takes the settings its
        signature names, or any if it takes ``**kwargs``.

    Returns
    -------
    estimator
        An unfitted scikit-learn-compatible classifier over strings.

    Raises
    ------
    ValueError
        If ``name`` is none of these, or the model has no such setting.

    Examples
    --------
    >>> type(make_model("complement_nb", alpha=0.5)).__name__
    'Pipeline'
    >>> make_model("complement_nb", alpa=0.5)
    Traceback (most recent call last):
    ...
    squad.errors.InvalidInputError: Model 'complement_nb' has no setting 'alpa'. Its settings: alpha. Correct the name or leave it out.
    """
    if name in MODELS:
        check_settings(name, settings, model_settings(name))
        factory = MODELS[name]
        if "dataset" in inspect.signature(factory).parameters:
            settings["dataset"] = dataset
        return factory(seed, **settings)
    factory = member_factory(name)
    check_settings(name, settings, factory_settings(factory))
    return factory(seed=seed, **settings)


def member_factory(model: str) -> Callable[..., Any]:
    """The factory a member's model name stands for, inside a notebook.

    In a sweep, a file's source comes from the copy shipped with the run (its sha256
    checked); otherwise the file is read relative to the working folder.

    Raises
    ------
    ValueError, FileNotFoundError
        As :func:`resolve_model`.
    """
    code = shipped_code(model) if parse_file_spec(model) else None
    if code is None:
        code = resolve_model(model)
    if code is None:  # a registered name
        return MODELS[model]
    return load_factory(code)
