"""The task registry: one name, one :class:`~tasks.types.Task`.

Built-in tasks register themselves from the explicit import list in
``tasks/__init__.py``. Users add tasks without touching qabench in three ways,
all handled by :func:`load_plugins`:

- a zero-code task directory (``--task-dir DIR``, see :mod:`tasks.taskdir`);
- a Python file that calls :func:`register` (``--include FILE.py``);
- an installed package exposing the entry-point group ``qabench.tasks``.

>>> from tasks.registry import get
>>> get("sst2").format
'choice'
"""

from __future__ import annotations

import importlib.util
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Iterable

from catalog import Registry
from tasks.errors import TaskError, UnknownTaskError
from tasks.types import Task

ENTRY_POINT_GROUP = "qabench.tasks"

_TASKS: Registry[Task] = Registry(
    "task", error=TaskError, unknown_error=UnknownTaskError, item_type=Task,
    unmatched_hint=(
        "run 'qabench tasks list' to see them; a task of your own needs --include FILE.py or --task-dir DIR "
        "(or include: / task_dirs: in the run config)"
    ),
)
_entry_points_loaded = False
_plugins: dict[tuple[str, Path], list[Task]] = {}  # ("dir" | "file", resolved path) -> the tasks it registered


def register(task: Task) -> Task:
    """Add ``task`` to the registry and return it.

    Rejects objects that are not a :class:`Task` (TypeError) and names that are taken (:class:`TaskError`).
    """
    return _TASKS.register(task)


def unregister(name: str) -> None:
    """Remove a task (tests and plugin reloads use this)."""
    _TASKS.unregister(name)


def get(name: str) -> Task:
    """The task called ``name``; an unknown name raises with a close suggestion."""
    _ensure_entry_points()
    return _TASKS.lookup(name)


def all_tasks(family: str | None = None) -> list[Task]:
    """Every registered task, sorted by family then name."""
    _ensure_entry_points()
    tasks = [t for t in _TASKS.values() if family is None or t.family == family]
    return sorted(tasks, key=lambda t: (t.family, t.name))


def names() -> list[str]:
    """Sorted names of every registered task."""
    return sorted(t.name for t in all_tasks())


def include_file(path: str | Path) -> list[Task]:
    """Import a plugin file that calls :func:`register`; return the tasks it added."""
    path = Path(path)
    if not path.is_file():
        raise TaskError(f"--include {path}: no such file")
    before = set(_TASKS)
    module_name = f"qabench_plugin_{path.stem}_{abs(hash(str(path.resolve()))):x}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise TaskError(f"--include {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except TaskError as err:  # a duplicate name, an unknown metric: say which file and line
        sys.modules.pop(module_name, None)
        raise TaskError(f"--include {path}{_error_line(err, path)}: {err}") from None
    except Exception as err:  # noqa: BLE001 - any import failure becomes one clear line
        sys.modules.pop(module_name, None)
        line = _error_line(err, path)
        raise TaskError(f"--include {path}{line}: failed to import: {type(err).__name__}: {err}") from err
    return [_TASKS[n] for n in sorted(set(_TASKS) - before)]


def _error_line(err: BaseException, path: Path) -> str:
    """':LINE' of the innermost frame of ``err`` inside ``path``, if any."""
    if isinstance(err, SyntaxError) and err.lineno:
        return f":{err.lineno}"
    tb = err.__traceback__
    line = ""
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve() == path.resolve():
            line = f":{tb.tb_lineno}"
        tb = tb.tb_next
    return line


def _ensure_entry_points() -> None:
    """Load installed plugins of the ``qabench.tasks`` entry-point group, once."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
        except Exception as err:  # noqa: BLE001
            raise TaskError(f"installed task plugin {ep.name!r} ({ep.value}) failed to import: {type(err).__name__}: {err}") from err
        # An entry point may name a module (registration on import), a Task, or a callable returning tasks.
        if isinstance(loaded, Task):
            register(loaded)
        elif callable(loaded) and not isinstance(loaded, type):
            result = loaded()
            for task in [result] if isinstance(result, Task) else list(result or ()):
                register(task)


def load_plugins(task_dirs: Iterable[str] = (), includes: Iterable[str] = ()) -> list[Task]:
    """Register zero-code task directories and plugin files; return their tasks.

    Loading the same directory or file again (named on the command line and
    in a run config, or by two configs) returns its tasks without loading it twice.
    """
    from tasks.taskdir import task_from_directory

    added: list[Task] = []
    for kind, paths in (("dir", task_dirs), ("file", includes)):
        for path in paths:
            key = (kind, Path(path).expanduser().resolve())
            if key not in _plugins:
                _plugins[key] = [_register_directory(task_from_directory(path), path)] if kind == "dir" else include_file(path)
            added.extend(register(task) for task in _plugins[key])  # again, in case it was unregistered since
    return added


def _register_directory(task: Task, directory: str) -> Task:
    """Register a zero-code task; a taken name is an error naming where the name came from."""
    try:
        return register(task)
    except TaskError as err:
        meta = Path(directory) / "task.json"
        named_in = f"{meta}: name" if meta.is_file() and "name" in meta.read_text(encoding="utf-8") else f"--task-dir {directory}"
        raise TaskError(f"{named_in}: {err}") from None
