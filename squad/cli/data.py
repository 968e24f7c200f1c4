"""``squad datasets``: list, describe and export the shared datasets."""

from __future__ import annotations

from pathlib import Path

import click

from squad.cli.base import group
from squad.errors import InvalidInputError

__all__ = ["datasets", "format_card"]


@group()
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
def datasets_list(cards: bool) -> None:
    """List the catalogue's datasets."""
    from squad.data.catalogue import read_cards
    from squad.data.datasets import dataset_info

    for name, card in read_cards().items():
        if cards:
            click.echo(format_card(dataset_info(name)) + "\n")
        else:
            click.echo(f"{name:24} {card.data['title']}")


@datasets.command("info")
@click.argument("name")
def datasets_info(name: str) -> None:
    """Print the card of dataset NAME (built first if needed)."""
    from squad.data.datasets import dataset_info

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
def datasets_load(
    name: str, split: str | None, protocol: str | None, destination: Path
) -> None:
    """Write dataset NAME to a CSV or Parquet file."""
    from squad._atomic import atomic_path
    from squad.data.datasets import load_dataset

    suffix = destination.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InvalidInputError(
            f"Cannot write '{destination}': use a .csv or .parquet file name."
        )
    frame = load_dataset(name, split=split, protocol=protocol)
    with atomic_path(destination) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
    click.echo(f"Wrote {len(frame):,} rows of {name} to {destination}")
