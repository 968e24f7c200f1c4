"""The ``squad`` command line: thin click wrappers over the kit's Python functions.

User errors (unknown names, bad files, checksum mismatches) print one line, ``Error: ...``,
and exit with status 2; no traceback.
"""

from __future__ import annotations

import functools
import logging
import sys
from pathlib import Path

import click

from squad._version import __version__

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
USER_ERRORS = (ValueError, KeyError, OSError)


def _user_errors(func):
    """Turn the kit's user errors into one line on stderr and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except USER_ERRORS as err:
            message = (
                err.args[0] if isinstance(err, KeyError) and err.args else str(err)
            )
            click.echo(f"Error: {message}", err=True)
            sys.exit(2)

    return wrapper


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="squad")
@click.option("-v", "--verbose", is_flag=True, help="Log progress to stderr.")
def main(verbose: bool) -> None:
    """The Global Data Squad kit: shared data, comparable experiments, graded training."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


# --------------------------------------------------------------------------- datasets
@main.group(context_settings=CONTEXT)
def datasets() -> None:
    """List, describe and export the shared datasets."""


def format_card(info: dict) -> str:
    """Render a dataset's card as a few lines of text for the terminal."""
    licence = " ".join(str(info["licence"]).split())
    lines = [
        f"{info['name']}: {info['title']}",
        f"  rows      {info['n_rows']:,}",
        f"  checksum  sha256:{info['checksum']}",
        f"  licence   {licence}",
        f"  protocols {', '.join(info['protocols'])} (default {info['split']['default']})",
    ]
    for source, sha in info["source_sha256"].items():
        lines.append(f"  source    {source} sha256:{sha}")
    return "\n".join(lines)


@datasets.command("list")
@click.option("--cards", is_flag=True, help="Build each dataset and print its card.")
@_user_errors
def datasets_list(cards: bool) -> None:
    """List the catalogue's datasets."""
    from squad.catalogue import read_cards
    from squad.datasets import dataset_info

    for name, card in read_cards().items():
        if cards:
            click.echo(format_card(dataset_info(name)) + "\n")
        else:
            click.echo(f"{name:24} {card.data['title']}")


@datasets.command("info")
@click.argument("name")
@_user_errors
def datasets_info(name: str) -> None:
    """Print the card of dataset NAME (built first if needed)."""
    from squad.datasets import dataset_info

    info = dataset_info(name)
    click.echo(format_card(info))
    click.echo(f"  card      {info['card_path']}")
    click.echo("\n" + " ".join(str(info["description"]).split()))


@datasets.command("load")
@click.argument("name")
@click.option("--split", default=None, help="train, test (default: all rows).")
@click.option("--protocol", default=None, help="Split protocol (default: the card's).")
@click.option(
    "--to",
    "destination",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file, .csv or .parquet.",
)
@_user_errors
def datasets_load(
    name: str, split: str | None, protocol: str | None, destination: Path
) -> None:
    """Write dataset NAME to a CSV or Parquet file."""
    from squad._atomic import atomic_path
    from squad.datasets import load_dataset

    suffix = destination.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ValueError(
            f"Cannot write '{destination}': use a .csv or .parquet file name."
        )
    frame = load_dataset(name, split=split, protocol=protocol)
    with atomic_path(destination) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
    click.echo(f"Wrote {len(frame):,} rows of {name} to {destination}")


if __name__ == "__main__":  # pragma: no cover
    main()
