"""``squad keys``: make, show and use your signing key."""

from __future__ import annotations

from pathlib import Path

import click

from squad.cli.base import group

__all__ = ["keys_group"]


@group("keys")
def keys_group() -> None:
    """Your signing key: a board kept with a signers file ranks only signed runs."""


@keys_group.command("new")
@click.option("--name", required=True, help="Your name on the board (the principal).")
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write it (default: $SQUAD_SIGNING_KEY, else your config folder).",
)
def keys_new(name: str, key: Path | None) -> None:
    """Make an Ed25519 signing key and print its line for the group's signers file."""
    from squad.board.signing import check_principal, load_key, new_key, public_key_line

    path = new_key(key, comment=check_principal(name))
    line = public_key_line(load_key(path), name)
    click.echo(f"Wrote {path} (mode 600) and {path}.pub.")
    click.echo("Add this line to the group's signers file (docs/board.md):")
    click.echo(line)


@keys_group.command("show")
@click.option("--name", required=True, help="Your name on the board (the principal).")
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The key (default: $SQUAD_SIGNING_KEY, else your config folder's).",
)
def keys_show(name: str, key: Path | None) -> None:
    """Print your key's line for the group's signers file."""
    from squad.board.signing import load_key, public_key_line

    click.echo(public_key_line(load_key(key), name))


@keys_group.command("sign")
@click.argument(
    "folders", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The key (default: $SQUAD_SIGNING_KEY, else your config folder's).",
)
def keys_sign(folders: tuple[Path, ...], key: Path | None) -> None:
    """Sign run FOLDERS made before you had a key (each file checked first)."""
    from squad.board.signing import load_key, sign_run

    signing_key = load_key(key)
    for folder in folders:
        click.echo(f"Signed {sign_run(folder, signing_key)}")
