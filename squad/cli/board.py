"""The board's commands: ``squad leaderboard``, ``squad submit`` and ``squad board``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from squad.cli.base import command, group
from squad.cli.common import (
    choose_signing_key,
    key_options,
    read_signers,
    signers_option,
    unsigned_note,
)
from squad.errors import InvalidInputError

__all__ = ["board_group", "leaderboard", "submit"]


@command()
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@click.option("--metric", help="Metric to rank by (default: accuracy).")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a self-contained HTML page.",
)
@click.option("--all", "show_all", is_flag=True, help="Also list runs that failed.")
@click.option(
    "--where",
    multiple=True,
    metavar="NAME=VALUE",
    help="Only runs with this parameter value, e.g. dataset=soc2010. Repeatable.",
)
@click.option(
    "--task",
    metavar="KEY",
    help="Only this task, e.g. soc2010/stratified or ecoicop (default: every task).",
)
@click.option(
    "--to-mlflow",
    is_flag=True,
    help="Log every run to MLflow at $MLFLOW_TRACKING_URI (needs squad[mlflow]).",
)
@signers_option
def leaderboard(
    path: Path,
    metric: str | None,
    html_file: Path | None,
    show_all: bool,
    where: tuple[str, ...],
    task: str | None,
    to_mlflow: bool,
    signers_file: Path | None,
) -> None:
    """Rank the runs under PATH (e.g. runs/coding), one table per task.

    A task is a dataset, split protocol and language: runs are never ranked across
    tasks. Only runs scored from their predictions rank (with --signers, only those
    signed by a key in the signers file); the others are listed apart. Run folders
    that fail a check are left out with one warning line each.
    """
    from squad.board.cache import ScoreCache
    from squad.board.collect import board_runs, describe_flag
    from squad.board.html import write_html
    from squad.board.leaderboard import (
        format_table,
        leaderboard_tables,
        parse_where,
        split_ranked,
    )
    from squad.board.mlflow_export import export_to_mlflow
    from squad.board.safety import one_line

    selected = parse_where(where)
    signers = read_signers(signers_file)
    runs = board_runs(path, where=selected, cache=ScoreCache(), signers=signers)
    tables = leaderboard_tables(runs, metric, include_failed=show_all, task=task)
    if not tables:
        click.echo("(no runs)")
    for number, (key, table) in enumerate(tables.items()):
        members = {m for m in table["member"]} if "member" in table else set()
        ranked, apart = split_ranked(table)
        heading = (
            f"Task {key.key}: {len(table)} run(s), {len(members)} member(s), "
            f"{len(ranked)} ranked by {table.attrs['metric']}"
        )
        click.echo(("\n" if number else "") + one_line(heading, 1000))
        click.echo(format_table(ranked) if len(ranked) else "(no ranked runs)")
        if len(apart):
            click.echo(
                f"Not ranked ({len(apart)}): self-reported (no predictions), "
                "unsigned or unknown key (with --signers), or failed:"
            )
            click.echo(format_table(apart))
        for rec in table.attrs.get("flagged", []):
            click.echo(f"Warning: {describe_flag(rec)}", err=True)
    if html_file is not None:
        write_html(runs, html_file, metric, task=task)
        click.echo(f"Wrote {html_file}")
    if to_mlflow:
        count = export_to_mlflow(path, signers=signers)
        click.echo(f"Logged {count} run(s) to MLflow")


@command()
@click.argument("predictions", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--dataset",
    type=click.Choice(["soc2010", "ecoicop"]),
    default="soc2010",
    show_default=True,
    help="The coding dataset predicted.",
)
@click.option("--protocol", help="Split protocol (default: the dataset's).")
@click.option(
    "--language", help="ECOICOP language when the file has no language column (pl)."
)
@click.option("--member", help="Member or organisation submitting (not with --to).")
@click.option("--model-name", help="Name of the model (not with --to).")
@click.option("--description", default="", help="How the predictions were made.")
@click.option(
    "--fact",
    "facts",
    multiple=True,
    metavar="NAME=VALUE",
    help="A fact sheet entry shown on the board, e.g. 'features=word 1-2 grams', "
    "'fit time=3 min', 'hardware=laptop, 4 cores'. Repeatable.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs"),
    show_default=True,
    help="The run goes to OUT/coding/<run_id>/.",
)
@click.option(
    "--to",
    "server",
    metavar="URL",
    help="Upload to the challenge server at URL instead of writing a run folder.",
)
@click.option(
    "--token",
    envvar="SQUAD_CHALLENGE_TOKEN",
    help="Your challenge API token (with --to; or $SQUAD_CHALLENGE_TOKEN).",
)
@key_options
def submit(
    predictions: Path,
    dataset: str,
    protocol: str | None,
    language: str | None,
    member: str | None,
    model_name: str | None,
    description: str,
    facts: tuple[str, ...],
    out: Path,
    server: str | None,
    token: str | None,
    key: Path | None,
    sign: bool,
) -> None:
    """Score a PREDICTIONS file (CSV or Parquet, from any tool) and add it to the board.

    The run is signed with your key (`squad keys new`), if you have one. With --to, the
    file goes to a challenge server instead; your team is the one of your token.
    """
    if server is not None:
        _submit_to_server(predictions, server, token)
        return
    for value, option in ((member, "--member"), (model_name, "--model-name")):
        if not value:
            raise click.UsageError(f"Missing option '{option}'.")
    from squad.board.submit import submit_predictions
    from squad.records import read_record

    signing_key = choose_signing_key(key, sign)
    fact_sheet = {}
    for item in facts:
        name, sep, value = item.partition("=")
        if not sep:
            raise InvalidInputError(
                f"Fact {item!r} is not NAME=VALUE (e.g. 'fit time=3 min')."
            )
        fact_sheet[name] = value

    folder = submit_predictions(
        predictions,
        dataset=dataset,
        protocol=protocol,
        language=language,
        member=member,
        model_name=model_name,
        description=description,
        facts=fact_sheet,
        out=out,
        key=signing_key,
    )
    metrics = read_record(folder).metrics
    click.echo(
        f"Scored {metrics['n']:,} test records of {dataset}: accuracy "
        f"{metrics['accuracy']:.4f}. Wrote {folder}"
    )
    if signing_key is None and sign:
        unsigned_note()


def _submit_to_server(predictions: Path, server: str, token: str | None) -> None:
    from squad.challenges.client import upload_predictions

    if not token:
        raise click.UsageError("--to needs --token (or $SQUAD_CHALLENGE_TOKEN).")
    row = upload_predictions(predictions, server, token)
    click.echo(
        f"Queued submission {row['id']} for team {row['team']} "
        f"(sha256 {row['sha256'][:12]}); see {server.rstrip('/')}/team/"
    )


@group("board")
def board_group() -> None:
    """The squad board: a static site of every task's ranking, and its CI check."""


def _cache_options(func):
    func = click.option(
        "--cache-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Where scores are cached (default: <data home>/board-scores).",
    )(func)
    return click.option(
        "--cache/--no-cache",
        default=True,
        help="Reuse scores of predictions and data scored before.",
    )(func)


def _score_cache(cache: bool, cache_dir: Path | None):
    from squad.board.cache import ScoreCache

    return ScoreCache(cache_dir) if cache else None


@board_group.command("build")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The site's folder (index.html, tasks/, runs/, img/).",
)
@click.option("--metric", help="Metric to rank by (default: accuracy).")
@click.option(
    "--top", type=int, default=10, show_default=True, help="Runs per curve figure."
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    help="Processes that score new runs (default: CPU cores; 1 uses least memory).",
)
@click.option(
    "--challenge",
    "challenges",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="RESULTS.json",
    help="A closed challenge's results file (squad challenge results): a page of its "
    "final board, linked from the index. Repeatable.",
)
@_cache_options
@signers_option
def board_build(
    path: Path,
    out: Path,
    metric: str | None,
    top: int,
    jobs: int | None,
    challenges: tuple[Path, ...],
    cache: bool,
    cache_dir: Path | None,
    signers_file: Path | None,
) -> None:
    """Write the board of the run folders under PATH as a static site in OUT.

    Every run folder is checked first; one that fails is left out with one warning.
    A results file given with --challenge that fails its check stops the build.
    """
    from squad.board.site import build_site

    result = build_site(
        path,
        out,
        metric,
        top=top,
        cache=_score_cache(cache, cache_dir),
        signers=read_signers(signers_file),
        jobs=jobs,
        challenges=challenges,
    )
    click.echo(result.summary())


@board_group.command("check")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@_cache_options
@signers_option
def board_check(
    path: Path, cache: bool, cache_dir: Path | None, signers_file: Path | None
) -> None:
    """Check every run folder under PATH; exit 1 naming each problem, one line each.

    Problems: folders left out, runs whose recorded metrics disagree with their
    predictions, the same predictions under two owners, look-alike names. The command a
    shared repository's CI runs on each contribution (docs/board.md).
    """
    from squad.board.safety import one_line
    from squad.board.site import check_board

    runs, problems = check_board(
        path, cache=_score_cache(cache, cache_dir), signers=read_signers(signers_file)
    )
    for line in problems:
        click.echo(one_line(line, 4000), err=True)
    tasks = len(runs.by_task())
    apart = sum(1 for run in runs.runs if not run.ranked)
    note = f" ({apart} listed apart, not ranked)" if apart else ""
    if problems:
        click.echo(
            f"{len(problems)} problem(s); {len(runs.runs)} run(s) in {tasks} task(s) "
            f"pass{note}.",
            err=True,
        )
        sys.exit(1)
    click.echo(
        f"{len(runs.runs)} run(s) in {tasks} task(s): every run folder passes{note}."
    )
