"""Checks of a planned run against the dataset card and the model it names.

A run's parameters can be well typed and still impossible: a split protocol, a language
or a text column the dataset's card does not have, or a model that does not exist. Each
would fail minutes into a sweep; :func:`check_run` finds them while the sweep is planned,
before anything starts. The checks follow the parameter names the kit's notebooks use:

- ``dataset``: a catalogue name (its card is read, the data are not built; a name
  not in the catalogue is left to the sweep's dataset lookup);
- ``protocol``: one of the card's split protocols ("" means the card's default);
- ``language``: one of the card's ``task.languages``, where the card lists languages;
  on a classification dataset whose card lists none (``soc2010``) it does not apply and
  :func:`clear_inapplicable` makes it None, so that the run's record and id do not carry
  the notebook's default;
- ``text``: text columns of the card's ``task.text``, joined with ``+`` ("" the default);
- ``model``: on a classification dataset, a registered model, a member's
  ``path/to/file.py:factory`` or an installed ``squad.models`` entry point (see
  :mod:`squad.tasks.member_models`), whose factory must take the run's ``settings`` and
  build an object with ``fit``, ``predict_proba`` and ``classes_``.

A notebook without a ``dataset`` parameter is not checked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from squad.errors import InvalidInputError

__all__ = ["check_run", "clear_inapplicable"]


def _card(name: str) -> Any:
    from squad.data.catalogue import read_cards

    return read_cards().get(name)


def _refuse(card: Any, what: str, value: Any, allowed: list[str], where: str) -> None:
    suffix = f" ({where})" if where else ""
    msg = (
        f"Dataset {card.name!r} has no {what} {value!r}{suffix}. Its card lists: "
        f"{', '.join(allowed)}."
    )
    raise InvalidInputError(msg)


def _check_against_card(
    card: Any, task: Mapping[str, Any], parameters: Mapping[str, Any], where: str
) -> None:
    """Refuse a protocol, language or text column the dataset's card rules out."""
    protocol = parameters.get("protocol")
    if isinstance(protocol, str) and protocol and protocol not in card.protocols:
        _refuse(card, "split protocol", protocol, list(card.protocols), where)
    languages = [str(v) for v in task.get("languages") or []]
    language = parameters.get("language")
    if languages and isinstance(language, str) and language not in languages:
        _refuse(card, "language", language, languages, where)
    if languages and "language" in parameters and language is None:
        suffix = f" ({where})" if where else ""
        msg = (
            f"Dataset {card.name!r} needs a language; got None{suffix}. Its card "
            f"lists: {', '.join(languages)}."
        )
        raise InvalidInputError(msg)
    columns = [str(v) for v in task.get("text") or []]
    text = parameters.get("text")
    if columns and isinstance(text, str) and text:
        for column in text.split("+"):
            if column not in columns:
                _refuse(card, "text column", column, columns, where)


def clear_inapplicable(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Set the parameters that do not apply to the run's dataset to None.

    On a classification dataset whose card lists no ``task.languages`` (``soc2010``),
    ``language`` does not apply: a run records it as None rather than the notebook's
    default, and runs that differ only in it are one run (one run id).

    Parameters
    ----------
    parameters : mapping
        The run's full parameters (defaults filled in).

    Returns
    -------
    dict
        A copy, with the parameters that do not apply set to None.

    Examples
    --------
    >>> clear_inapplicable({"dataset": "soc2010", "language": "pl"})
    {'dataset': 'soc2010', 'language': None}
    >>> clear_inapplicable({"dataset": "ecoicop", "language": "pl"})
    {'dataset': 'ecoicop', 'language': 'pl'}
    """
    cleared = dict(parameters)
    name = parameters.get("dataset")
    if cleared.get("language") is None or not isinstance(name, str) or not name:
        return cleared
    card = _card(name)
    task = (card.data.get("task") or {}) if card is not None else {}
    if task.get("type") == "classification" and not task.get("languages"):
        cleared["language"] = None
    return cleared


def check_run(
    parameters: Mapping[str, Any],
    *,
    where: str = "",
    base_dirs: Mapping[str, str | os.PathLike[str]] | None = None,
) -> dict[str, Any] | None:
    """Check one run's parameters against its dataset card and its model.

    Parameters
    ----------
    parameters : mapping
        The run's full parameters (defaults filled in).
    where : str, default=""
        Where the values come from, for error messages.
    base_dirs : mapping, optional
        Parameter name -> folder a relative path in its value is relative to (the
        working folder for ``-p`` values, the grid file's folder for grid values).

    Returns
    -------
    dict or None
        For a member's model (a file or an installed package): what identifies its
        code (``kind``, ``spec``, ``sha256`` or ``package``/``version``, ...), for the
        run id and the provenance; None otherwise.

    Raises
    ------
    ValueError
        If the card rules out the protocol, language or text, or the model is unknown
        or its factory does not build a usable model.
    FileNotFoundError
        If a member's model file does not exist.

    Examples
    --------
    >>> check_run({"dataset": "ecoicop", "protocol": "head_word"})
    Traceback (most recent call last):
    ...
    squad.errors.InvalidInputError: Dataset 'ecoicop' has no split protocol 'head_word'. Its card lists: grouped, statistics_poland.
    >>> check_run({"seed": 1}) is None
    True
    """
    name = parameters.get("dataset")
    task: Mapping[str, Any] = {}
    if isinstance(name, str) and name:
        card = _card(name)
        if card is None:  # the dataset lookup of the sweep names what is missing
            return None
        task = card.data.get("task") or {}
        _check_against_card(card, task, parameters, where)
    model = parameters.get("model")
    if not isinstance(model, str):
        return None
    from squad.tasks.member_models import parse_file_spec
    from squad.tasks.registry import check_model

    # A classification task's model is a coder; elsewhere only an unmistakable member
    # file (path.py:factory) is, since another notebook's "model" may mean anything.
    if task.get("type") != "classification" and parse_file_spec(model) is None:
        return None
    base = (base_dirs or {}).get("model")
    settings = parameters.get("settings")
    seed = parameters.get("seed", 0)
    return check_model(
        model,
        seed=seed if isinstance(seed, int) else 0,
        settings=settings if isinstance(settings, Mapping) else {},
        base_dir=Path(base) if base is not None else None,
        where=where,
    )
