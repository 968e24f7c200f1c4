"""The ``squad`` command line: thin click wrappers over the kit's Python functions.

A user error (a `squad.errors.UserError`: unknown names, bad files, checksum mismatches)
prints one line, ``Error: ...``, and exits with status 2; no traceback. Anything else is a
bug in the kit: one line that says so, status 1, and the traceback with ``squad -v``.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import traceback
from pathlib import Path

import click

from squad import __version__
from squad._imports import mask_slow_optional_imports
from squad.errors import InvalidInputError, UserError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _verbose() -> bool:
    context = click.get_current_context(silent=True)
    return bool(context and context.find_root().params.get("verbose"))


def _user_errors(func):
    """User errors become one line and status 2; bugs one line and status 1.

    ``squad -v`` also prints the traceback of a bug.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except UserError as err:
            click.echo(f"Error: {err}", err=True)
            sys.exit(2)
        except click.ClickException:
            raise
        except BrokenPipeError:  # `squad ... | head`: the reader has gone, not a bug
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)
        except Exception as err:
            if _verbose():
                traceback.print_exc()
                hint = "the traceback is above"
            else:
                hint = "run with -v for the traceback"
            click.echo(
                f"Error: this is a bug in squad ({type(err).__name__}: {err}); "
                f"{hint}, and please report it.",
                err=True,
            )
            sys.exit(1)

    return wrapper


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="squad")
@click.option(
    "-v", "--verbose", is_flag=True, help="Log progress, and show tracebacks of bugs."
)
def main(verbose: bool) -> None:
    """The Global Data Squad kit: shared data, comparable experiments, graded training."""
    mask_slow_optional_imports()
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # nbgrader's gradebook runs the `alembic` command: this interpreter's scripts come
    # first on PATH, also when its virtual environment is not activated.
    scripts = str(Path(sys.executable).parent)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([scripts, os.environ.get("PATH", "")])


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
    from squad.data.catalogue import read_cards
    from squad.data.datasets import dataset_info

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
@_user_errors
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


# --------------------------------------------------------------------------- keys
def _key_option(func):
    func = click.option(
        "--sign/--no-sign",
        default=True,
        help="Sign the run with your key (default: when you have one).",
    )(func)
    return click.option(
        "--key",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Signing key (default: $SQUAD_SIGNING_KEY, else the one `squad keys new` "
        "made).",
    )(func)


def _signing_key(key: Path | None, sign: bool):
    """The key to sign with: ``--key``, else the default one if it exists, else None."""
    if not sign:
        return None
    from squad.board.signing import default_key_path, load_key

    if key is None and not default_key_path().is_file():
        return None
    return load_key(key)


def _unsigned_note() -> None:
    from squad.board.signing import default_key_path

    click.echo(
        f"Note: unsigned (no key at {default_key_path()}); a board kept with a "
        "signers file lists unsigned runs apart, unranked. Make a key with "
        "`squad keys new`, then sign with `squad keys sign FOLDER`.",
        err=True,
    )


def _signers_option(func):
    return click.option(
        "--signers",
        "signers_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="The group's signers file (git's allowed_signers format): runs show under "
        "the name it gives their key; unsigned and unknown-key runs are not ranked.",
    )(func)


def _signers(path: Path | None):
    if path is None:
        return None
    from squad.board.safety import one_line
    from squad.board.signing import read_signers

    signers = read_signers(path)
    for note in signers.skipped:
        click.echo(f"Note: signers file {one_line(str(path))} {note}", err=True)
    return signers


@main.group("keys", context_settings=CONTEXT)
def keys_group() -> None:
    """Your signing key: a board kept with a signers file ranks only signed runs."""


@keys_group.command("new", context_settings=CONTEXT)
@click.option("--name", required=True, help="Your name on the board (the principal).")
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write it (default: $SQUAD_SIGNING_KEY, else your config folder).",
)
@_user_errors
def keys_new(name: str, key: Path | None) -> None:
    """Make an Ed25519 signing key and print its line for the group's signers file."""
    from squad.board.signing import check_principal, load_key, new_key, public_key_line

    path = new_key(key, comment=check_principal(name))
    line = public_key_line(load_key(path), name)
    click.echo(f"Wrote {path} (mode 600) and {path}.pub.")
    click.echo("Add this line to the group's signers file (docs/board.md):")
    click.echo(line)


@keys_group.command("show", context_settings=CONTEXT)
@click.option("--name", required=True, help="Your name on the board (the principal).")
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The key (default: $SQUAD_SIGNING_KEY, else your config folder's).",
)
@_user_errors
def keys_show(name: str, key: Path | None) -> None:
    """Print your key's line for the group's signers file."""
    from squad.board.signing import load_key, public_key_line

    click.echo(public_key_line(load_key(key), name))


@keys_group.command("sign", context_settings=CONTEXT)
@click.argument(
    "folders", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The key (default: $SQUAD_SIGNING_KEY, else your config folder's).",
)
@_user_errors
def keys_sign(folders: tuple[Path, ...], key: Path | None) -> None:
    """Sign run FOLDERS made before you had a key (each file checked first)."""
    from squad.board.signing import load_key, sign_run

    signing_key = load_key(key)
    for folder in folders:
        click.echo(f"Signed {sign_run(folder, signing_key)}")


# --------------------------------------------------------------------------- run
@main.command(context_settings=CONTEXT)
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
@_key_option
@_user_errors
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
    from squad.runs.sweep import plan_sweep, run_sweep

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
    signing_key = _signing_key(key, sign)
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
        _unsigned_note()
    if result.reused and not force:
        click.echo(
            f"Reused {len(result.reused)} run(s) with an ok record (--force reruns)."
        )
    sys.exit(result.exit_code)


# --------------------------------------------------------------------------- leaderboard
@main.command(context_settings=CONTEXT)
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
@_signers_option
@_user_errors
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
    from squad.board.html import write_html
    from squad.board.leaderboard import (
        board_runs,
        describe_flag,
        format_table,
        leaderboard_tables,
        parse_where,
        split_ranked,
    )
    from squad.board.mlflow_export import export_to_mlflow
    from squad.board.safety import one_line

    selected = parse_where(where)
    signers = _signers(signers_file)
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


# --------------------------------------------------------------------------- submit
@main.command(context_settings=CONTEXT)
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
@click.option("--member", required=True, help="Member or organisation submitting.")
@click.option("--model-name", required=True, help="Name of the model.")
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
@_key_option
@_user_errors
def submit(
    predictions: Path,
    dataset: str,
    protocol: str | None,
    language: str | None,
    member: str,
    model_name: str,
    description: str,
    facts: tuple[str, ...],
    out: Path,
    key: Path | None,
    sign: bool,
) -> None:
    """Score a PREDICTIONS file (CSV or Parquet, from any tool) and add it to the board.

    The run is signed with your key (`squad keys new`), if you have one.
    """
    from squad.board.submit import submit_predictions
    from squad.records import read_record

    signing_key = _signing_key(key, sign)
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
        _unsigned_note()


# --------------------------------------------------------------------------- board
@main.group("board", context_settings=CONTEXT)
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


@board_group.command("build", context_settings=CONTEXT)
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
@_cache_options
@_signers_option
@_user_errors
def board_build(
    path: Path,
    out: Path,
    metric: str | None,
    top: int,
    jobs: int | None,
    cache: bool,
    cache_dir: Path | None,
    signers_file: Path | None,
) -> None:
    """Write the board of the run folders under PATH as a static site in OUT.

    Every run folder is checked first; one that fails is left out with one warning.
    """
    from squad.board.site import build_site

    result = build_site(
        path,
        out,
        metric,
        top=top,
        cache=_score_cache(cache, cache_dir),
        signers=_signers(signers_file),
        jobs=jobs,
    )
    click.echo(result.summary())


@board_group.command("check", context_settings=CONTEXT)
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@_cache_options
@_signers_option
@_user_errors
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
        path, cache=_score_cache(cache, cache_dir), signers=_signers(signers_file)
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


# --------------------------------------------------------------------------- grade
_COURSE_OPTION = click.option(
    "--course",
    type=click.Path(file_okay=False, path_type=Path),
    help="The nbgrader course folder (default: $SQUAD_COURSE_DIR, else exercises/).",
)


@main.command(context_settings=CONTEXT)
@click.argument("assignment")
@_COURSE_OPTION
@click.option("--student", default="*", show_default=True, help="Student id or glob.")
@click.option("--jobs", type=int, help="Local worker processes (default: CPU cores).")
@click.option("--scheduler", metavar="ADDRESS", help="Grade on a Dask cluster instead.")
@click.option(
    "--cell-timeout", type=int, help="Seconds per cell (default: the course's)."
)
@click.option(
    "--notebook-timeout",
    type=float,
    default=600,
    show_default=True,
    help="Seconds per notebook.",
)
@click.option(
    "--memory",
    "memory_mb",
    type=int,
    default=2048,
    show_default=True,
    help="Memory limit of each kernel, in MB.",
)
@click.option(
    "--isolation",
    type=click.Choice(["strict", "weak", "none"]),
    help="How far student code is kept from the course and the machine (default: "
    "strict on Linux, which needs bubblewrap; weak elsewhere).",
)
@click.option("--force", is_flag=True, help="Grade already graded submissions again.")
@click.option("--feedback", is_flag=True, help="Also write each student's feedback.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@_user_errors
def grade(
    assignment: str,
    course: Path | None,
    student: str,
    jobs: int | None,
    scheduler: str | None,
    cell_timeout: int | None,
    notebook_timeout: float,
    memory_mb: int,
    isolation: str | None,
    force: bool,
    feedback: bool,
    progress: bool,
) -> None:
    """Autograde ASSIGNMENT in parallel, each notebook in a sandbox, as nbgrader would."""
    from squad.grading.grade import grade_assignment

    if jobs is not None and scheduler:
        raise InvalidInputError("Give --jobs or --scheduler, not both.")
    result = grade_assignment(
        assignment,
        course=course,
        student=student,
        jobs=jobs,
        scheduler=scheduler,
        cell_timeout=cell_timeout,
        notebook_timeout=notebook_timeout,
        memory_mb=memory_mb,
        isolation=isolation,
        force=force,
        feedback=feedback,
        progress=progress,
    )
    click.echo(result.summary())
    sys.exit(result.exit_code)


@main.command(context_settings=CONTEXT)
@click.argument("assignment")
@_COURSE_OPTION
@click.option("--student", default="*", show_default=True, help="Student id or glob.")
@_user_errors
def feedback(assignment: str, course: Path | None, student: str) -> None:
    """Write feedback pages for ASSIGNMENT, without the hidden tests' code."""
    from squad.grading.feedback import write_feedback

    pages = write_feedback(course, assignment, pattern=student)
    click.echo(f"Wrote {len(pages)} feedback page(s)")


# --------------------------------------------------------------------------- course
@main.group("course", context_settings=CONTEXT)
def course_group() -> None:
    """Build the Coffee and Coding course (an nbgrader course in exercises/)."""


@course_group.command("build", context_settings=CONTEXT)
@click.argument("assignments", nargs=-1)
@_COURSE_OPTION
@_user_errors
def course_build(assignments: tuple[str, ...], course: Path | None) -> None:
    """Regenerate the release notebooks of ASSIGNMENTS (default: all of them)."""
    from squad.course.build import build_course

    released = build_course(course, assignments=assignments or None)
    for path in released:
        click.echo(str(path))
    click.echo(f"Built {len(released)} release notebook(s)")


@course_group.command("solutions", context_settings=CONTEXT)
@click.argument("assignment")
@_COURSE_OPTION
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write into (default: solutions/ASSIGNMENT in the course).",
)
@click.option(
    "--before-deadline",
    is_flag=True,
    help="Write them although the gradebook's due date is still to come.",
)
@_user_errors
def course_solutions(
    assignment: str, course: Path | None, out: Path | None, before_deadline: bool
) -> None:
    """Write the solutions of ASSIGNMENT for trainees, once it is past its due date.

    Model answers, visible tests and the graders' rubrics, without hidden tests: one
    plain notebook per notebook of the assignment, to hand out like the release.
    """
    from squad.grading.solutions import write_solutions

    written = write_solutions(
        assignment, course=course, out=out, before_deadline=before_deadline
    )
    for path in written:
        click.echo(str(path))


# --------------------------------------------------------------------------- lab
@main.command("lab", context_settings=CONTEXT)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The kit's root folder, served by JupyterLab.",
)
@_COURSE_OPTION
@click.option(
    "--port",
    type=int,
    default=8888,
    show_default=True,
    help="Port to listen on (0: any free port; a busy port is replaced).",
)
@click.option("--browser/--no-browser", default=True, help="Open a web browser.")
@_user_errors
def lab(root: Path, course: Path | None, port: int, browser: bool) -> None:
    """Start JupyterLab on the kit, with the course and nbgrader's Formgrader."""
    from squad.course.lab import start_lab

    # Ctrl+C stops the lab even when it was started from a shell that ignores it (a
    # background job); a plain `kill` (SIGTERM) or a closed terminal (SIGHUP) also shuts
    # the server and its kernels down, even while the server is still starting.
    _stop_on_signals()
    server = start_lab(root, course_dir=course, port=port, open_browser=browser)
    click.echo("JupyterLab is running. Open this address in your browser:")
    click.echo(f"    {server.lab_url()}")
    click.echo(f"Formgrader (instructors): {server.lab_url('formgrader')}")
    _serve(server, "JupyterLab")


def _stop_on_signals() -> None:
    """Ctrl+C, a plain `kill` or a closed terminal stop a server the command runs."""
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)
    for number in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if number is not None:
            signal.signal(number, lambda *_: sys.exit(0))


def _serve(server, name: str) -> None:
    """Wait until the server ends or Ctrl+C; stop it; exit with its status."""
    click.echo("Press Ctrl+C to stop.")
    try:
        status = server.process.wait()
    except KeyboardInterrupt:
        status = 0
        click.echo(f"Stopping {name}...")
    finally:
        server.stop()
    sys.exit(status)


# --------------------------------------------------------------------------- hub
_COURSE_FILE = click.argument(
    "course_file", type=click.Path(dir_okay=False, path_type=Path)
)


@main.group("hub", context_settings=CONTEXT)
def hub_group() -> None:
    """A JupyterHub for the course on one Linux server (see docs/hub.md)."""


@hub_group.command("accounts", context_settings=CONTEXT)
@_COURSE_FILE
@click.option(
    "--remove", is_flag=True, help="Remove the accounts the kit made for the course."
)
@_user_errors
def hub_accounts(course_file: Path, remove: bool) -> None:
    """Create the Unix accounts and groups of COURSE_FILE's people (as root)."""
    from squad.hub.accounts import create_accounts, remove_accounts
    from squad.hub.coursefile import read_course_file
    from squad.hub.passwords import issue_passwords
    from squad.hub.prepare import hub_layout

    course = read_course_file(course_file)
    if remove:
        removed = remove_accounts(course)
        click.echo(f"Removed {len(removed)} account(s)")
    else:
        click.echo(create_accounts(course).summary())
        click.echo(issue_passwords(course, hub_layout(course)).summary())


@hub_group.command("start", context_settings=CONTEXT)
@_COURSE_FILE
@click.option(
    "--ip",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on ('' for all; put HTTPS in front).",
)
@click.option(
    "--shared-password",
    is_flag=True,
    help="One password for all trainees and one for instructors, not each person's "
    "own (a live session in one room).",
)
@_user_errors
def hub_start(course_file: Path, ip: str, shared_password: bool) -> None:
    """Start the course's JupyterHub from COURSE_FILE; Ctrl+C stops it."""
    from squad.hub.coursefile import read_course_file
    from squad.hub.passwords import list_sheets
    from squad.hub.prepare import hub_layout
    from squad.hub.server import start_hub

    _stop_on_signals()
    course = read_course_file(course_file)
    sheets = set(list_sheets(hub_layout(course)))
    server = start_hub(course, ip=ip, shared_password=shared_password)
    click.echo(f"The course's JupyterHub is running: {server.url}")
    click.echo(f"Formgrader (instructors, in its own tab): {server.formgrader_url}")
    if shared_password:
        click.echo(f"Shared passwords (trainee, instructor): {server.layout.passwords}")
    else:
        new = [p for p in list_sheets(server.layout) if p not in sheets]
        for sheet in new:
            click.echo(
                f"New passwords to hand out: {sheet} (printable: "
                f"{sheet.with_suffix('.html')})"
            )
        click.echo(
            f"Each person logs in with their own password (sheets in "
            f"{server.layout.password_sheets})"
        )
    _serve(server, "the hub")


@hub_group.command("passwords", context_settings=CONTEXT)
@_COURSE_FILE
@click.option(
    "--reset",
    "reset",
    multiple=True,
    metavar="NAME",
    help="Issue NAME a new password (repeat for several people).",
)
@_user_errors
def hub_passwords(course_file: Path, reset: tuple[str, ...]) -> None:
    """Issue passwords to people of COURSE_FILE who have none, or new ones (as root).

    Prints the sheet to hand out. A running hub takes new passwords at the next login.
    """
    from squad.hub.accounts import require_root
    from squad.hub.coursefile import read_course_file
    from squad.hub.passwords import issue_passwords
    from squad.hub.prepare import hub_layout

    require_root("Issuing the hub's passwords")
    course = read_course_file(course_file)
    click.echo(issue_passwords(course, hub_layout(course), reset=reset).summary())


if __name__ == "__main__":  # pragma: no cover
    main()
