"""``squad run``: a notebook over a grid of parameters, each run a folder."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from squad.cli.base import command
from squad.cli.common import choose_signing_key, key_options, unsigned_note

__all__ = ["run"]


@command()
@click.argument("notebook", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--grid",
    type=click.Path(dir_okay=False, path_type=Path),
    help=(
        "Grid file (default without -p: <notebook stem>.grid.yml beside the notebook)."
    ),
)
@click.option(
    "-p",
    "--param",
    "params",
    nargs=2,
    multiple=True,
    metavar="NAME VALUE",
    help=(
        "Set a parameter (VALUE is read as YAML). Without --grid: one run of the "
        "notebook's defaults plus these values; with --grid: fixed across the grid. "
        "A name given again sweeps over its values."
    ),
)
@click.option("--jobs", type=int, help="Local worker processes (default: CPU cores).")
@click.option("--scheduler", metavar="ADDRESS", help="Run on a Dask cluster instead.")
@click.option("--timeout", type=float, help="Seconds a run may take.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs"),
    show_default=True,
    help="Runs go to OUT/<experiment>/<run_id>/.",
)
@click.option(
    "--force", is_flag=True, help="Rerun runs that already have an ok record."
)
@click.option("--member", help="Member or organisation (default: $SQUAD_MEMBER).")
@click.option("--experiment", help="Experiment name (default: the notebook's stem).")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@click.option(
    "--dry-run", is_flag=True, help="Check and list the runs; start none of them."
)
@key_options
def run(
    notebook: Path,
    grid: Path | None,
    params: tuple[tuple[str, str], ...],
    jobs: int | None,
    scheduler: str | None,
    timeout: float | None,
    out: Path,
    force: bool,
    member: str | None,
    experiment: str | None,
    progress: bool,
    dry_run: bool,
    key: Path | None,
    sign: bool,
) -> None:
    """Run NOTEBOOK over a grid of parameters; each run becomes a folder under OUT.

    Each new run is signed with your key (`squad keys new`), if you have one.
    """
    from squad.runs.params import canonical_json
    from squad.runs.plan import plan_sweep
    from squad.runs.sweep import run_sweep

    if dry_run:
        plan = plan_sweep(
            notebook, grid=grid, params=list(params), experiment=experiment
        )
        for planned in plan.runs:
            click.echo(f"{planned.run_id} {canonical_json(planned.parameters)}")
        click.echo(
            f"{len(plan.runs)} run(s) of {plan.experiment} planned; none started."
        )
        return

    signer = None
    signing_key = choose_signing_key(key, sign)
    if signing_key is not None:
        from squad.board.signing import sign_run

        signer = functools.partial(sign_run, key=signing_key)
    result = run_sweep(
        notebook,
        grid=grid,
        params=list(params),
        jobs=jobs,
        scheduler=scheduler,
        timeout=timeout,
        out=out,
        force=force,
        member=member,
        experiment=experiment,
        progress=progress,
        sign=signer,
    )
    click.echo(result.summary())
    if signer is None and sign and (result.ok or result.failed):
        unsigned_note()
    if result.reused and not force:
        click.echo(
            f"Reused {len(result.reused)} run(s) with an ok record (--force reruns)."
        )
    sys.exit(result.exit_code)
