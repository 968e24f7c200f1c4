"""Verdict guard: code the grader runs inside a student's kernel, around test cells.

This file is not imported by the grader: :mod:`squad.grading.worker` sends its text to
the kernel (``install``) before the notebook's first cell runs, so it must only use the
standard library and IPython. It keeps a snapshot of everything a failing test cell
depends on to be reported as failing, taken before any student code runs:

- every name in ``builtins`` (``AssertionError``, ``abs``, ``isinstance``, ...) and the
  functions of ``math``, ``cmath`` and ``operator``;
- the interpreter's hooks (``sys.excepthook``, ``sys.displayhook``, ``sys.stdout``,
  ``sys.stderr``, trace and profile functions);
- IPython's execution and reporting machinery (input and AST transformers, custom
  exception handlers, ``showtraceback`` and friends, ``run_cell``/``run_code``, event
  callbacks) and ipykernel's request handling (``do_execute``, the handler table, the
  session that sends replies), at class and instance level.

Before each test cell the grader calls :func:`restore`: whatever student code changed is
put back (and reported), and names a test uses that student code shadowed in the user
namespace (``abs = lambda x: 0``) are set aside until :func:`unstash` after the test.
This guard is one layer: canary cells that must fail (see the worker) detect anything
that still swallows failures.
"""

from __future__ import annotations

import builtins
import json
import sys
import threading
import types

_STATE: dict = {}
_MODULES = ("math", "cmath", "operator")
_SYS_HOOKS = (
    "excepthook",
    "displayhook",
    "breakpointhook",
    "unraisablehook",
    "stdout",
    "stderr",
)
_SHELL_ATTRS = (
    "run_cell",
    "run_cell_async",
    "_run_cell",
    "should_run_async",
    "transform_cell",
    "transform_ast",
    "run_ast_nodes",
    "run_code",
    "showtraceback",
    "_showtraceback",
    "showsyntaxerror",
    "showindentationerror",
    "get_exception_only",
    "excepthook",
    "CustomTB",
    "custom_exceptions",
    "InteractiveTB",
    "SyntaxTB",
    "displayhook",
    "display_pub",
    "input_transformer_manager",
    "compile",
    "user_expressions",
)
_KERNEL_ATTRS = (
    "do_execute",
    "execute_request",
    "dispatch_shell",
    "send_response",
    "session",
    "iopub_socket",
    "shell",
)
_LISTS = ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")


def _shell():
    from IPython import get_ipython

    return get_ipython()


def _class_dicts(obj) -> list:
    return [(cls, dict(vars(cls))) for cls in type(obj).__mro__ if cls is not object]


def _trusted(func) -> bool:
    """Whether an event callback comes from installed code rather than a cell."""
    code = getattr(getattr(func, "__func__", func), "__code__", None)
    if code is None:
        return False
    roots = _STATE["roots"]
    return any(code.co_filename.startswith(root) for root in roots)


def install() -> None:
    """Take the snapshot; called once, before the first cell of the notebook."""
    import cmath  # noqa: F401 - snapshotted below
    import math  # noqa: F401
    import operator  # noqa: F401
    import sysconfig

    shell = _shell()
    kernel = getattr(shell, "kernel", None)
    session = getattr(kernel, "session", None)
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for name in ("stdlib", "platstdlib", "purelib", "platlib"):
        roots.add(sysconfig.get_path(name))
    objects = {"shell": shell, "kernel": kernel, "session": session}
    objects["out"] = sys.stdout
    objects["displayhook"] = getattr(shell, "displayhook", None)
    objects["display_pub"] = getattr(shell, "display_pub", None)
    _STATE.update(
        roots=tuple(sorted(r for r in roots if r)),
        builtins=dict(vars(builtins)),
        modules={name: dict(vars(sys.modules[name])) for name in _MODULES},
        sys={name: getattr(sys, name, None) for name in _SYS_HOOKS},
        trace=sys.gettrace(),
        profile=sys.getprofile(),
        classes={
            key: _class_dicts(obj) for key, obj in objects.items() if obj is not None
        },
        shell_attrs={
            name: vars(shell)[name] for name in _SHELL_ATTRS if name in vars(shell)
        },
        kernel_attrs={
            name: vars(kernel)[name]
            for name in _KERNEL_ATTRS
            if kernel is not None and name in vars(kernel)
        },
        handlers=dict(getattr(kernel, "shell_handlers", {}) or {}),
        lists={name: list(getattr(shell, name, [])) for name in _LISTS},
        events={k: list(v) for k, v in shell.events.callbacks.items()},
        threads={t.ident for t in threading.enumerate()},
        objects=objects,
        stash={},
    )


def _same(a, b) -> bool:
    """Identity, or the same bound method (made afresh on each attribute access)."""
    if a is b:
        return True
    if type(a) is types.MethodType and type(b) is types.MethodType:
        return a.__func__ is b.__func__ and a.__self__ is b.__self__
    return False


def _same_list(a, b) -> bool:
    return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))


def _same_items(a: dict, b: dict) -> bool:
    return set(a) == set(b) and all(_same(a[k], b[k]) for k in b)


def _restore_dict(target: dict, saved: dict, label: str, changed: list) -> None:
    for name, value in saved.items():
        if not _same(target.get(name, _MISSING), value):
            target[name] = value
            changed.append(f"{label}.{name}")


_MISSING = object()


def _is_code(value) -> bool:
    return callable(value) or isinstance(value, staticmethod | classmethod | property)


def _restore_classes(changed: list) -> None:
    """Put back methods of the machinery's classes; other class state may change."""
    for pairs in _STATE["classes"].values():
        for cls, saved in pairs:
            current = dict(vars(cls))
            for name in set(saved) | set(current):
                old, new = saved.get(name, _MISSING), current.get(name, _MISSING)
                if _same(old, new) or not (_is_code(old) or _is_code(new)):
                    continue
                try:
                    if old is _MISSING:
                        delattr(cls, name)
                    else:
                        setattr(cls, name, old)
                except (AttributeError, TypeError):
                    continue
                changed.append(f"{cls.__name__}.{name}")


def _restore_instance(obj, saved: dict, names: tuple, label: str, changed: list):
    if obj is None:
        return
    own = vars(obj)
    for name in names:
        if name in saved:
            if not _same(own.get(name, _MISSING), saved[name]):
                own[name] = saved[name]
                changed.append(f"{label}.{name}")
        elif name in own:
            del own[name]
            changed.append(f"{label}.{name}")


def restore(names=()) -> list:
    """Put back what student code changed; set aside user names that shadow builtins.

    Parameters
    ----------
    names : iterable of str
        Names the next test cell uses.

    Returns
    -------
    list of str
        What had been changed (also printed as one JSON line).
    """
    changed: list = []
    _restore_dict(vars(builtins), _STATE["builtins"], "builtins", changed)
    for module, saved in _STATE["modules"].items():
        if module in sys.modules:
            _restore_dict(vars(sys.modules[module]), saved, module, changed)
    for name, value in _STATE["sys"].items():
        if not _same(getattr(sys, name, None), value):
            setattr(sys, name, value)
            changed.append(f"sys.{name}")
    if sys.gettrace() is not _STATE["trace"]:
        sys.settrace(_STATE["trace"])
        changed.append("sys.settrace")
    if sys.getprofile() is not _STATE["profile"]:
        sys.setprofile(_STATE["profile"])
        changed.append("sys.setprofile")
    threading.settrace(None)
    threading.setprofile(None)
    _restore_classes(changed)
    objects = _STATE["objects"]
    shell, kernel = objects["shell"], objects["kernel"]
    _restore_instance(shell, _STATE["shell_attrs"], _SHELL_ATTRS, "shell", changed)
    _restore_instance(kernel, _STATE["kernel_attrs"], _KERNEL_ATTRS, "kernel", changed)
    handlers = getattr(kernel, "shell_handlers", None)
    if handlers is not None and not _same_items(handlers, _STATE["handlers"]):
        handlers.clear()
        handlers.update(_STATE["handlers"])
        changed.append("kernel.shell_handlers")
    for name, saved in _STATE["lists"].items():
        current = getattr(shell, name, None)
        if current is not None and not _same_list(current, saved):
            current[:] = saved
            changed.append(f"shell.{name}")
    for event, saved in _STATE["events"].items():
        current = shell.events.callbacks.get(event, [])
        keep = [
            cb for cb in current if any(_same(cb, s) for s in saved) or _trusted(cb)
        ]
        if not _same_list(keep, current):
            current[:] = keep
            changed.append(f"events.{event}")
    user_ns, stash = shell.user_ns, _STATE["stash"]
    stash.clear()
    for name in names:
        original = _STATE["builtins"].get(name, _MISSING)
        if original is not _MISSING and name in user_ns:
            if user_ns[name] is not original:
                stash[name] = user_ns.pop(name)
                changed.append(f"user namespace shadows builtin '{name}'")
    extra = [t.name for t in threading.enumerate() if t.ident not in _STATE["threads"]]
    report = {"changed": changed, "threads": extra}
    print(json.dumps(report))
    return changed


def unstash() -> None:
    """Give back the user names :func:`restore` set aside for the last test."""
    user_ns, stash = _shell().user_ns, _STATE["stash"]
    for name, value in stash.items():
        user_ns.setdefault(name, value)
    stash.clear()


def _without_hidden(text, begin: str, end: str):
    """``text`` with the lines between hidden-test delimiters blanked; else as given."""
    if not isinstance(text, str) or begin not in text:
        return text
    kept, inside = [], False
    for line in text.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        kept.append("" if inside or begin in line or end in line else line)
    return "\n".join(kept)


def forget(begin: str, end: str) -> int:
    """Blank hidden-test code wherever the kernel keeps cell sources; return how many.

    Called after a test cell with hidden tests, so that code of a later cell cannot
    read them back: IPython's input history (``In``, ``_ih``, ``_i``, ``_ii``,
    ``_iii``, ``_i<N>``, the raw history) and the ``linecache`` entries of cells
    (which ``inspect`` and tracebacks read). Execution counts and outputs are untouched,
    so no score changes.
    """
    import linecache

    shell, blanked = _shell(), 0
    history = shell.history_manager
    for lines in (history.input_hist_parsed, history.input_hist_raw):
        for index, text in enumerate(lines):
            cleaned = _without_hidden(text, begin, end)
            if cleaned is not text:
                lines[index], blanked = cleaned, blanked + 1
    user_ns = shell.user_ns
    for name in [n for n in user_ns if n in ("_i", "_ii", "_iii") or n[:2] == "_i"]:
        if name[2:].isdigit() or name in ("_i", "_ii", "_iii"):
            cleaned = _without_hidden(user_ns[name], begin, end)
            if cleaned is not user_ns[name]:
                user_ns[name], blanked = cleaned, blanked + 1
    for name, entry in list(linecache.cache.items()):
        if len(entry) == 4 and any(begin in line for line in entry[2] or ()):
            size, mtime, lines, fullname = entry
            text = _without_hidden("".join(lines), begin, end)
            kept = text.splitlines(keepends=True)
            linecache.cache[name] = (len(text), mtime, kept, fullname)
            blanked += 1
    # The last exception's traceback leads to the test's frames and code.
    for name in ("last_type", "last_value", "last_traceback", "last_exc"):
        if getattr(sys, name, None) is not None:
            setattr(sys, name, None)
    return blanked
