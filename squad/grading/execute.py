"""nbgrader's ``Execute`` step, sandboxed, time- and output-limited, with verdict checks.

:class:`GuardedExecute` replaces ``nbgrader.preprocessors.Execute`` in the autograde
preprocessors. It executes the notebook exactly as nbgrader does (same class, same
configuration: per-cell timeout, interrupt on timeout, errors allowed) and adds:

- a wall-clock limit for the whole notebook (``notebook_timeout``); per-cell timeouts
  are shortened so the notebook cannot overrun it by more than a second or so;
- a memory watchdog over the kernel's process tree (:func:`watch_memory`);
- a cap on the output kept per cell (``output_limit`` bytes): extra stream and display
  output is dropped with a note in the same stream; error outputs are always kept, and
  an over-sized result of a test cell becomes an error (it could not be scored);
- the verdict guard. Before the first cell the guard (:mod:`squad.kernels.guard`) is
  installed. Before each test cell the guard restores what student code changed and
  sets aside user names that shadow builtins the test uses; then a *canary* runs: the
  test's own code behind a statement that must fail. After the test the set-aside
  names come back and another canary runs. A canary that does not come back as a
  failure (with the random token it raised) shows the kernel no longer reports
  failures honestly: that test and every later one get an extra error output and
  score zero. A check that cannot run (the kernel is out of memory or busy) zeroes
  only that test.

Probes run with ``store_history=False``, so execution counts and the notebook match
nbgrader's; their output never enters the notebook.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import json
import math
import secrets
import threading
import time
from pathlib import Path

from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Float, Integer

from squad.grading.kernels import ReadyKernel, starter, watch_memory
from squad.kernels.prestart import StartedKernel

__all__ = ["TAMPERED", "GuardedExecute", "RunState"]

TAMPERED = "SquadTamperingDetected"
_GUARD_SOURCE = (
    Path(__file__).parents[1].joinpath("kernels", "guard.py").read_text("utf-8")
)
_BOOTSTRAP = (
    "import os, sys, types\n"
    # Started with PYTHONSAFEPATH (see grade._policy): the notebook's folder goes back
    # on sys.path for its imports, and child processes start as usual.
    "if os.environ.pop('PYTHONSAFEPATH', None) and os.getcwd() not in sys.path:\n"
    "    sys.path.insert(0, os.getcwd())\n"
    "m = types.ModuleType('_squad_guard')\n"
    f"exec(compile({_GUARD_SOURCE!r}, '<squad-guard>', 'exec'), m.__dict__)\n"
    "sys.modules['_squad_guard'] = m\n"
    "m.install()\n"
)
_BUILTIN_NAMES = frozenset(dir(builtins))
_BUSY = ("MemoryError", "KeyboardInterrupt")


class RunState:
    """What one notebook execution found; read by the worker afterwards."""

    def __init__(self, kernel_log: Path, memory_mb: int | None) -> None:
        self.kernel_log = kernel_log
        self.memory_mb = memory_mb
        self.ready: ReadyKernel | None = None
        self.ready_dir: Path | None = None
        self.timed_out = False
        self.memory_killed: list = []
        self.error = ""
        self.cell = ""
        self.tampering: list[str] = []
        self.notes: list[str] = []


#: The state of the notebook this process is executing (one at a time).
CURRENT: RunState | None = None


def _names(source: str) -> list[str]:
    """Builtin names a test cell uses."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return sorted(found & _BUILTIN_NAMES)


def _size(content: dict) -> int:
    size = len(str(content.get("text", ""))) + len(str(content.get("evalue", "")))
    for value in (content.get("data") or {}).values():
        size += len(value) if isinstance(value, str) else len(json.dumps(value))
    return size + sum(len(t) for t in content.get("traceback") or [])


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(
        output_type="error",
        ename=ename,
        evalue=evalue,
        traceback=[f"{ename}: {evalue}"],
    )


class GuardedExecute(Execute):
    """nbgrader's ``Execute`` with the sandbox, limits and verdict guard."""

    notebook_timeout = Float(0, help="Seconds for the whole notebook (0: none).").tag(
        config=True
    )
    output_limit = Integer(1_000_000, help="Output bytes kept per cell (0: all).").tag(
        config=True
    )

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if CURRENT is not None and hasattr(km, "log_path"):
            km.log_path = CURRENT.kernel_log
        return km

    def preprocess(self, nb, resources, km=None):
        run = CURRENT
        self._deadline = None
        if self.notebook_timeout:
            self._deadline = time.monotonic() + self.notebook_timeout
        self._started = self._guard = self._python = False
        self._broken = ""
        self._sizes: dict[int, int] = {}
        self._noted: set = set()
        hidden = self.config.get("ClearHiddenTests", {})
        self._hidden = (
            hidden.get("begin_test_delimeter", "BEGIN HIDDEN TESTS"),
            hidden.get("end_test_delimeter", "END HIDDEN TESTS"),
        )
        self._stop = threading.Event()
        ready = run.ready if run is not None else None
        path = (resources or {}).get("metadata", {}).get("path")
        if km is None and ready is not None and path and run.ready_dir is not None:
            name = nb.metadata.get("kernelspec", {}).get("name", ready.kernel_name)
            same = Path(path).resolve() == run.ready_dir.resolve()
            if same and name == ready.kernel_name:
                km, run.ready = ready.km, None
        owned = km is not None
        try:
            return super().preprocess(nb, resources, km)
        except Exception as err:
            if run is not None:
                run.error = f"{type(err).__name__}: {err}"
            raise
        finally:
            self._stop.set()
            if owned:
                with contextlib.suppress(Exception):
                    if self.kc is not None:
                        self.kc.stop_channels()
                starter().release(StartedKernel(km=km))

    def _get_timeout(self, cell):
        timeout = super()._get_timeout(cell)
        if self._deadline is not None:
            left = max(1, math.ceil(self._deadline - time.monotonic()))
            timeout = min(timeout, left) if timeout else left
        return timeout

    def preprocess_cell(self, cell, resources, index):
        from jupyter_core.utils import run_sync

        run = CURRENT
        if self._deadline is not None and time.monotonic() > self._deadline:
            if run is not None:
                run.timed_out = True
            raise TimeoutError(
                f"the notebook ran longer than {self.notebook_timeout:g} s"
            )
        if not self._started:
            self._started = True
            self._watch()
            language = self.nb.metadata.get("language_info", {}).get("name", "")
            self._python = language == "python"
            if self._python:
                reply, _ = run_sync(self._probe)(f"exec({_BOOTSTRAP!r}, {{}})", 30)
                self._guard = bool(reply) and reply.get("status") == "ok"
            if not self._guard and run is not None:
                run.notes.append(
                    "the verdict guard could not be installed"
                    if self._python
                    else f"no verdict guard for {language or 'this'} kernels"
                )
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if run is not None:
            run.cell = f"cell {index}" + (f" ('{grade_id}')" if grade_id else "")
        test = cell.cell_type == "code" and utils.is_grade(cell) and cell.source.strip()
        test = test and self._python
        doubt = run_sync(self._check)(cell, before=True) if test else ""
        cell, resources = super().preprocess_cell(cell, resources, index)
        if test:
            doubt = run_sync(self._check)(cell, before=False) or doubt
            if self._broken or doubt:
                cell.outputs.append(_error(TAMPERED, self._broken or doubt))
            if self._guard and self._hidden[0] in cell.source:
                run_sync(self._forget)(grade_id)
        return cell, resources

    async def _forget(self, grade_id: str) -> None:
        """Blank the test's hidden code in the kernel's history and line cache.

        Student code in a later cell cannot then read it back (``In``, ``_ih``,
        ``linecache``, the last traceback). What student code saw while the test ran
        is caught when feedback is written (:mod:`squad.grading.feedback`).
        """
        begin, end = self._hidden
        code = (
            "exec(\"import sys; sys.modules['_squad_guard']"
            f'.forget({begin!r}, {end!r})", {{}})\n'
        )
        reply, _ = await self._probe(code, max(10.0, float(self.timeout or 10)))
        if (reply or {}).get("status") != "ok" and CURRENT is not None:
            CURRENT.notes.append(
                f"the hidden tests of '{grade_id}' could not be cleared from the "
                "kernel's history"
            )

    def _watch(self) -> None:
        run, km = CURRENT, self.km
        process = getattr(getattr(km, "provisioner", None), "process", None)
        if run is None or run.memory_mb is None or process is None:
            return
        threading.Thread(
            target=watch_memory,
            args=(process.pid, run.memory_mb, self._stop, run.memory_killed),
            daemon=True,
            name="squad-memory-watchdog",
        ).start()

    async def _probe(self, code: str, timeout: float):
        """Run ``code`` outside the notebook's history; return its reply and outputs."""
        from jupyter_core.utils import ensure_async

        msg_id = await ensure_async(
            self.kc.execute(
                code, store_history=False, allow_stdin=False, stop_on_error=False
            )
        )
        deadline = time.monotonic() + timeout
        outputs, reply = [], None
        with contextlib.suppress(Exception):
            while True:
                msg = await ensure_async(
                    self.kc.iopub_channel.get_msg(timeout=deadline - time.monotonic())
                )
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "status" and content.get("execution_state") == "idle":
                    break
                if kind in ("stream", "error"):
                    outputs.append({"output_type": kind, **content})
            while reply is None:
                msg = await ensure_async(
                    self.kc.shell_channel.get_msg(timeout=deadline - time.monotonic())
                )
                if msg["parent_header"].get("msg_id") == msg_id:
                    reply = msg["content"]
        return reply, outputs

    async def _check(self, cell, *, before: bool) -> str:
        """Restore (before), then a canary (after: with the unstash); '' or a doubt."""
        run = CURRENT
        grade_id = cell.metadata.nbgrader.get("grade_id", "?")
        when = "before" if before else "after"
        timeout = max(10.0, float(self.timeout or 10))
        guard = "exec(\"import sys; sys.modules['_squad_guard'].{}\", {{}})\n"
        if self._guard and before:
            code = guard.format(f"restore({_names(cell.source)!r})")
            reply, outputs = await self._probe(code, timeout)
            status = (reply or {}).get("status")
            if status != "ok":
                ename = (reply or {}).get("ename", "no answer")
                if reply is None or ename in _BUSY:
                    return self._doubt(f"{when} test '{grade_id}' ({ename})")
                return self._tampered(
                    f"the grader's guard was disabled {when} test '{grade_id}' "
                    f"({ename})"
                )
            if before and run is not None:
                self._report(outputs, grade_id, run)
        token = secrets.token_hex(8)
        body = "" if cell.source.lstrip().startswith("%%") else cell.source
        # After the test, the set-aside names come back in the canary's own request.
        head = guard.format("unstash()") if self._guard and not before else ""
        canary = f"{head}assert 0 == {secrets.randbelow(9000) + 1}, {token!r}\n{body}"
        reply, outputs = await self._probe(canary, timeout)
        if reply is None or reply.get("ename") in _BUSY:
            return self._doubt(f"{when} test '{grade_id}'")
        reported = [o for o in outputs if o["output_type"] == "error"]
        honest = (
            reply.get("status") == "error"
            and reply.get("ename") == "AssertionError"
            and token in str(reply.get("evalue", ""))
            and any(token in str(o.get("evalue", "")) for o in reported)
        )
        if not honest:
            return self._tampered(
                f"a check that must fail was not reported as failing {when} test "
                f"'{grade_id}': the kernel's error reporting was tampered with, so "
                "this test and the later ones score zero"
            )
        return ""

    def _report(self, outputs: list[dict], grade_id: str, run: RunState) -> None:
        for output in outputs:
            text = output.get("text", "")
            if output.get("name") != "stdout" or not text.startswith("{"):
                continue
            with contextlib.suppress(ValueError, AttributeError):
                report = json.loads(text.splitlines()[0])
                for item in report.get("changed", []):
                    run.tampering.append(f"restored {item} before test '{grade_id}'")
                for name in report.get("threads", []):
                    run.notes.append(
                        f"thread '{name}' running before test '{grade_id}'"
                    )

    def _doubt(self, where: str) -> str:
        message = (
            f"the kernel could not be checked {where}: it was out of memory, busy or "
            "not answering, so this test scores zero"
        )
        if CURRENT is not None:
            CURRENT.notes.append(message)
        return message

    def _tampered(self, message: str) -> str:
        if not self._broken:
            self._broken = message
            if CURRENT is not None:
                CURRENT.tampering.append(message)
        return self._broken

    def output(self, outs, msg, display_id, cell_index):
        limit = self.output_limit
        kind, content = msg["msg_type"], msg["content"]
        used = self._sizes.get(cell_index, 0) + _size(content)
        self._sizes[cell_index] = used
        if not limit or used <= limit:
            return super().output(outs, msg, display_id, cell_index)
        if kind == "error":
            content["evalue"] = str(content.get("evalue", ""))[:limit]
            content["traceback"] = [t[:limit] for t in content.get("traceback") or []]
            return super().output(outs, msg, display_id, cell_index)
        if kind == "execute_result":
            out = _error("OutputLimitExceeded", f"the result is over {limit} bytes")
            outs.append(out)
            return out
        name = content.get("name", "stdout") if kind == "stream" else "stdout"
        if (cell_index, name) not in self._noted:
            self._noted.add((cell_index, name))
            text = f"\n[output beyond {limit} bytes was dropped by the grader]\n"
            outs.append(NotebookNode(output_type="stream", name=name, text=text))
            if CURRENT is not None:
                CURRENT.notes.append(f"the output of cell {cell_index} was cut")
        return None
