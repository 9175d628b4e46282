"""The read-only web leaderboard: a Starlette app over an opened store, Jinja2 templates, served by uvicorn.

Pages:

- ``/``: one section of the leaderboard at a time (``?section=``, as
  ``qabench leaderboard show`` prints them): a suite's current protocol,
  ranked; entries of an older version or another fingerprint, and ad hoc
  runs, each shown apart without rank. Within it the table of one task set,
  sortable (column links) and filterable (model, backbone, head mode,
  mixture), with intervals, the efficiency columns and zero-shot marks;
- ``/run/{run_id}``: config, pretraining lineage, per-task scores with
  intervals, training curves, and the predictions browser
  (``?task=&page=&wrong=1&q=``);
- ``/compare?a=RUN&b=RUN``: the paired table of ``qabench leaderboard
  compare`` and, per task, the examples the two runs answered differently.

Every record string reaches the page through Jinja2's autoescaping; a run,
task or page that is not there gives a 404 page, any other failure a plain
500 page (never a traceback). The engine is opened read-only (SQLite
``query_only``, PostgreSQL read-only transactions).

>>> # app = create_app(open_store("lb.db", migrate=False, read_only=True)); uvicorn.run(app)
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from leaderboard.compare import compare_runs
from leaderboard.errors import LeaderboardError
from leaderboard.sections import Section, suite_sections
from leaderboard.store import Store
from leaderboard.table import EFFICIENCY_COLUMNS, TEXT_COLUMNS
from leaderboard.web import data
from leaderboard.web.svg import line_chart

TEMPLATES = Path(__file__).resolve().parent / "templates"
log = logging.getLogger("qabench.web")


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["pretty_json"] = lambda value: json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    env.filters["answer"] = lambda value: " | ".join(map(str, value)) if isinstance(value, list) else ("" if value is None else str(value))
    env.globals["efficiency_columns"] = EFFICIENCY_COLUMNS
    return env


def _int(request: Request, name: str, default: int = 1) -> int:
    """A positive integer query parameter; anything else is a 404 (a malformed URL), not a crash."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 9:
        raise data.NotFound(f"?{name}={raw!r}: not a page number")
    return int(raw)


def _chosen_section(sections: Sequence[Section], key: str | None) -> Section | None:
    """The section ``?section=KEY`` names (404 when none has that key); without one, the first: a suite's current protocol, ranked."""
    if key is None:
        return sections[0] if sections else None
    found = next((s for s in sections if s.key == key), None)
    if found is None:
        raise data.NotFound(f"?section={key[:80]!r}: no such section; the sections: {', '.join(s.key for s in sections) or 'none'}")
    return found


def create_app(store: Store) -> Starlette:
    """The web leaderboard over ``store`` (opened read-only by the caller)."""
    env = _environment()
    cache = data.StoreCache()  # the sections, task sets and boards of the ranked table, until the store changes

    def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(where=store.where, **context), status_code=status)

    def board(request: Request) -> HTMLResponse:
        params = request.query_params
        filters = {col: params.get(col, "") for col in data.FILTERS}
        sort = params.get("sort") or None
        with store.engine.connect() as conn:
            memo = cache.at(conn)  # the store's state, read once for this request
            sections = memo.get("sections", lambda: suite_sections(conn))
            section = _chosen_section(sections, params.get("section") or None)
            ranked = data.ranked_table(conn, params.get("tasks") or None, filters, sort, _int(request, "page"), data.RANKED_PER_PAGE,
                                       run_ids=section.run_ids if section else None, standing=section.standing if section else "ranked",
                                       memo=memo)
        current = {k: v for k, v in {"section": params.get("section", ""), "tasks": params.get("tasks", ""), **filters, "sort": sort or ""}.items() if v}

        def sort_link(column: str) -> str:
            name, _, direction = (sort or "decaScore").partition(":")
            text_first = column in TEXT_COLUMNS
            default_dir = "asc" if text_first else "desc"
            if name == column:
                now = direction or default_dir
                new = f"{column}:{'desc' if now == 'asc' else 'asc'}"
            else:
                new = f"{column}:{default_dir}"
            return "?" + urlencode({**current, "sort": new})

        sort_name, _, sort_dir = (sort or "decaScore").partition(":")
        return render("board.html", ranked=ranked, sections=sections, section=section, filters=filters, filter_labels=data.FILTERS, sort_link=sort_link,
                      page_link=lambda n: "?" + urlencode({**current, "page": n}),
                      sort_name=sort_name, sort_dir=sort_dir or ("asc" if sort_name in TEXT_COLUMNS else "desc"),
                      task_key=ranked.task_set.key if ranked.task_set else "")

    def run(request: Request) -> HTMLResponse:
        params = request.query_params
        with store.engine.connect() as conn:
            page = data.run_page(conn, request.path_params["run_id"])
            tasks = [t.task for t in page.tasks]
            task = params.get("task") or (tasks[0] if tasks else "")
            if task and task not in tasks:
                raise data.NotFound(f"run {page.run_id!r} has no task {task!r}")
            wrong = params.get("wrong") == "1"
            query = params.get("q", "")
            predictions = data.predictions_page(conn, page.run_id, task, _int(request, "page"), wrong, query) if task else None
            peers = [r for r in data.runs_with_task_set(conn, tasks) if r != page.run_id][:500]  # for the compare form
        base = {"task": task, **({"wrong": "1"} if wrong else {}), **({"q": query} if query else {})}
        return render("run.html", run=page, predictions=predictions, task=task, wrong=wrong, query=query,
                      page_link=lambda n: "?" + urlencode({**base, "page": n}),
                      loss_svg=line_chart(page.loss, "training loss (smoothed)"), eval_svg=line_chart(page.evals, "dev score"),
                      peers=peers)

    def compare(request: Request) -> HTMLResponse:
        params = request.query_params
        ref_a, ref_b = params.get("a", ""), params.get("b", "")
        if not ref_a or not ref_b:
            raise data.NotFound("compare needs two runs: /compare?a=RUN&b=RUN")
        with store.engine.connect() as conn:
            run_a, run_b = data._exact_run(conn, ref_a), data._exact_run(conn, ref_b)
            try:
                result = compare_runs(conn, run_a, run_b)
            except LeaderboardError as err:
                return render("error.html", status=400, title="cannot compare these runs", message=str(err))
            tasks = [t.task for t in result.tasks]
            task = params.get("task") or tasks[0]
            if task not in tasks:
                raise data.NotFound(f"{run_a} and {run_b} were not compared on task {task!r}")
            diff = data.differing_examples(conn, run_a, run_b, task, _int(request, "page"))
        return render("compare.html", result=result, diff=diff, task=task,
                      task_link=lambda t: "?" + urlencode({"a": run_a, "b": run_b, "task": t}),
                      page_link=lambda n: "?" + urlencode({"a": run_a, "b": run_b, "task": task, "page": n}))

    async def not_found(request: Request, err: Exception) -> HTMLResponse:
        message = err.detail if isinstance(err, HTTPException) else "no such page"
        return render("error.html", status=404, title="not found", message=message)

    async def known_missing(request: Request, err: Exception) -> HTMLResponse:
        return render("error.html", status=404, title="not found", message=str(err))

    async def bad_request(request: Request, err: Exception) -> HTMLResponse:
        return render("error.html", status=400, title="bad request", message=str(err))

    async def server_error(request: Request, err: Exception) -> HTMLResponse:
        log.exception("error serving %s", request.url.path)
        return render("error.html", status=500, title="server error", message="the page failed; the server log says why")

    routes = [
        Route("/", board),
        Route("/run/{run_id:path}", run),
        Route("/compare", compare),
    ]
    handlers = {404: not_found, data.NotFound: known_missing, LeaderboardError: bad_request, 500: server_error}
    return Starlette(routes=routes, exception_handlers=handlers)  # type: ignore[arg-type]
