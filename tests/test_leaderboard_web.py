"""The read-only web leaderboard through Starlette's TestClient, on both engines: pages, sorting, filters,
the predictions browser, comparisons, escaping of every record string, 404s for malformed URLs, read-only."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from leaderboard_fixtures import accuracy_task, write_run
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.testclient import TestClient

from harness.cli import main
from leaderboard.errors import LeaderboardError
from leaderboard.store import add_records, open_store
from leaderboard.web.app import create_app

REPO = Path(__file__).resolve().parents[1]
EVIL = '<script>alert("x")</script>'
#: The suite the three comparable runs followed (not a built-in one: its newest entries stand for its protocol).
DEMO = {"name": "demo", "version": "2", "fingerprint": "d" * 64, "score": "decaScore over 2 tasks"}


def _curves(run_dir: Path, task: str) -> None:
    lines = [{"step": s, "kind": "loss", "task": task, "metric": "loss", "value": 2.0 / s} for s in range(10, 110, 10)]
    lines += [{"step": s, "kind": "eval", "task": task, "metric": "accuracy", "value": 40.0 + s / 5} for s in (50, 100)]
    with open(run_dir / "curves.jsonl", "a", encoding="utf-8") as f:
        f.writelines(json.dumps(line) + "\n" for line in lines)


def write_runs(root: Path) -> list[Path]:
    """bert-0 and bert-1 beat gpt-0 on one suite protocol; other-tasks is ad hoc; every record string of gpt-0 (and a task name) carries markup."""
    evil_task = {"question": f"Is it {EVIL}?", "context": f"ctx {EVIL}"}
    runs = [
        write_run(root, "bert-0", [accuracy_task("sst2", [100] * 90 + [0] * 30), accuracy_task(f"rte{EVIL}", [100, 0, 100, 100])],
                  backbone="bert", seed=0, train_seconds=30.0, suite=DEMO,
                  timings={"prepare_seconds": 2.5, "train_tokens_per_second": 9000.0, "eval_tokens_per_second": 12000.0}),
        write_run(root, "bert-1", [accuracy_task("sst2", [100] * 80 + [0] * 40), accuracy_task(f"rte{EVIL}", [100, 100, 100, 0])],
                  backbone="bert", seed=1, mixture="uniform", train_seconds=31.0, suite=DEMO),
        write_run(root, "gpt-0", [accuracy_task("sst2", [0] * 60 + [100] * 60, extra_example=evil_task), accuracy_task(f"rte{EVIL}", [0, 0, 100, 0])],
                  backbone=f"gpt{EVIL}", mixture=EVIL, pretrained=f"/models/{EVIL}", train_seconds=5.0, suite=DEMO),
        write_run(root, "other-tasks", [accuracy_task("cola", [100, 0])], backbone="bert"),
    ]
    _curves(runs[0].parent, f"rte{EVIL}")
    _curves(runs[0].parent, "sst2")
    record = json.loads(runs[2].read_text())
    record["config"]["note"] = EVIL
    record["model"]["pretrain_record"] = {"objective": EVIL, "steps": 10}
    runs[2].write_text(json.dumps(record))
    return runs


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def client(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    """The app over a read-only store holding :func:`write_runs`, once per engine for the module (pages never write)."""
    root = tmp_path_factory.mktemp("web")
    target = str(root / "lb.db") if request.param == "sqlite" else request.getfixturevalue("postgres_server").new_database()
    add_records(target, write_runs(root / "runs"), n_boot=100)
    store = open_store(target, read_only=True)
    yield TestClient(create_app(store))
    store.close()


def run_ids(page: str) -> list[str]:
    return re.findall(r'<a class="run" href="/run/[^"]+">([^<]+)</a>', page)


def test_the_ranked_table_ranks_one_task_set_with_intervals_and_efficiency_columns(client: TestClient) -> None:
    page = client.get("/").text
    assert run_ids(page) == ["bert-0", "bert-1", "gpt-0"]  # other-tasks follows no suite: the ad hoc section
    assert "75.0 [" in page
    headings = re.findall(r'data-column="([^"]+)"><a href="[^"]*">([^<]+)</a>', page)[-8:]
    assert headings == [("parameters", "params"), ("prepare_seconds", "prep s"), ("train_seconds", "train s"), ("eval_seconds", "eval s"),
                        ("train_eps", "train ex/s"), ("train_tps", "train tok/s"), ("eval_eps", "eval ex/s"), ("eval_tps", "eval tok/s")]
    rows = {run_ids(row)[0]: re.findall(r'<td class="num">([^<]*)</td>', row)[-7:]
            for row in re.findall(r"<tr>(.*?)</tr>", page, re.S) if run_ids(row)}
    assert rows["bert-0"] == ["2.5", "30.0", "1.5", "512", "9000", "581", "12000"]
    assert rows["gpt-0"] == ["–", "5.0", "1.5", "512", "–", "581", "–"]  # its record predates preparation time and tokens/s
    assert run_ids(client.get("/?sort=train_tps:desc").text)[0] == "bert-0"
    assert run_ids(client.get("/?section=adhoc").text) == ["other-tasks"]
    assert client.get("/?tasks=cola").status_code == 404  # no entry of the demo protocol ran exactly cola
    assert client.get("/?tasks=nope").status_code == 404
    assert client.get("/?section=nope").status_code == 404


def test_the_ranked_table_pages_with_ranks_that_continue(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from leaderboard.web import data

    monkeypatch.setattr(data, "RANKED_PER_PAGE", 2)
    second = client.get("/?page=2").text
    assert run_ids(second) == ["gpt-0"] and '<td class="num">3</td>' in second and "3 runs, page 2 of 2" in second
    assert run_ids(client.get("/?page=1").text) == ["bert-0", "bert-1"]


def test_sorting_and_filtering(client: TestClient) -> None:
    assert run_ids(client.get("/?sort=train_seconds:asc").text) == ["gpt-0", "bert-0", "bert-1"]
    assert run_ids(client.get("/?sort=run_id:desc").text) == ["gpt-0", "bert-1", "bert-0"]
    assert run_ids(client.get("/?backbone=bert").text) == ["bert-0", "bert-1"]
    assert run_ids(client.get("/?mixture=uniform").text) == ["bert-1"]
    assert run_ids(client.get("/?backbone=' OR 1=1 --").text) == []  # a value, never SQL
    assert client.get("/?sort=nonsense").status_code == 400


def test_the_run_page_shows_config_lineage_scores_curves_and_predictions(client: TestClient) -> None:
    page = client.get("/run/bert-0").text
    assert '<h1 id="run-id">bert-0</h1>' in page and "75.0 [" in page
    assert page.count("<svg") == 2 and "Training loss per task" in page and "Dev score per task" in page
    assert "<title>rte&lt;script&gt;" in page and "<title>sst2 accuracy</title>" in page  # both tasks' curves, names escaped
    assert "120 of 120 examples" in page and "page 1 of 3" in page
    evil = client.get("/run/gpt-0").text
    assert "pretrain objective" in evil and "This run recorded no training curves." in evil


def test_the_predictions_browser_pages_filters_and_searches(client: TestClient) -> None:
    second = client.get("/run/bert-0?task=sst2&page=2").text
    assert "page 2 of 3" in second and re.search(r"<td>50</td>", second)
    wrong = client.get("/run/bert-0?task=sst2&wrong=1").text
    assert "30 of 120 examples, wrong answers only" in wrong
    assert 'class="right"' not in wrong and wrong.count('class="wrong"') == 30
    found = client.get("/run/bert-0?task=sst2&q=review 117").text
    assert "1 of 120 examples" in found and "<td>117</td>" in found
    assert "4 of 4 examples" in client.get("/run/bert-0", params={"task": f"rte{EVIL}"}).text


def test_the_compare_page_has_the_paired_table_and_the_differing_examples(client: TestClient) -> None:
    page = client.get("/compare?a=bert-0&b=gpt").text  # a unique prefix works as on the command line
    assert 'id="run-b">gpt-0</a>' in page and "+25.00" in page  # sst2: 75 - 50
    assert "sst2: 90 of 120 shared examples answered differently" in page
    rte = client.get("/compare", params={"a": "bert-0", "b": "gpt-0", "task": f"rte{EVIL}"}).text
    assert "2 of 4 shared examples answered differently" in rte
    refused = client.get("/compare?a=bert-0&b=other-tasks")
    assert refused.status_code == 400 and "share no evaluated task" in refused.text


@pytest.mark.parametrize(
    "url",
    ["/run/nope", "/run/bert-0?page=abc", "/run/bert-0?page=-1", "/run/bert-0?task=nope", "/compare?a=bert-0", "/compare?a=x&b=y",
     "/compare?a=bert-0&b=gpt-0&task=cola", "/run/%00%ff'%20OR%20'1'='1", "/run/" + "x" * 5000, "/no/such/page", f"/run/{EVIL}"],
)
def test_malformed_urls_give_a_404_page_never_a_traceback(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404 and '<h1>not found</h1>' in response.text
    assert "Traceback" not in response.text and "<script" not in response.text.lower()


@pytest.mark.parametrize(
    ("url", "status"),
    [(f"/?sort={EVIL}", 400), (f"/?tasks={EVIL}", 404), (f"/?section={EVIL}", 404), (f"/?page={EVIL}", 404),
     (f"/compare?a={EVIL}&b=bert-0", 404), (f"/run/bert-0?task={EVIL}", 404), (f"/compare?a=gpt-0&b=other-tasks&task={EVIL}", 400)],
)
def test_error_pages_escape_what_the_url_carried(client: TestClient, url: str, status: int) -> None:
    response = client.get(url)
    assert response.status_code == status and "Traceback" not in response.text
    assert "<script" not in response.text.lower()


def test_every_page_escapes_every_record_string(client: TestClient) -> None:
    pages = [
        client.get("/"), client.get("/?backbone=" + EVIL), client.get("/?sort=run_id"), client.get("/run/gpt-0"),
        client.get("/run/gpt-0?task=sst2&q=script"), client.get("/run/gpt-0", params={"task": f"rte{EVIL}"}), client.get("/run/bert-0"),
        client.get("/compare?a=gpt-0&b=bert-0"), client.get("/compare", params={"a": "gpt-0", "b": "bert-0", "task": f"rte{EVIL}"}),
    ]
    for response in pages:
        assert response.status_code == 200, response.url
        assert "<script" not in response.text.lower(), response.url
    run = pages[3].text
    assert "gpt&lt;script&gt;" in run and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in run
    assert "Is it &lt;script&gt;" in pages[4].text


def test_the_web_view_cannot_write(tmp_path: Path, db_target: str) -> None:
    add_records(db_target, write_runs(tmp_path / "runs")[:1], n_boot=100)
    store = open_store(db_target, read_only=True)
    try:
        with pytest.raises(DBAPIError), store.engine.begin() as conn:
            conn.execute(text("DELETE FROM runs"))
    finally:
        store.close()


def test_serve_refuses_a_database_behind_the_schema_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    shutil.copy(REPO / "tests" / "fixtures" / "leaderboard-v1.db", db)
    before = db.read_bytes()
    result = CliRunner().invoke(main, ["leaderboard", "--db", str(db), "serve", "--port", "0"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "run `qabench leaderboard --db ... upgrade` first" in result.output
    assert db.read_bytes() == before


@pytest.fixture(scope="module")
def suite_client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    """The app over entries of one suite's current protocol, an older version, another fingerprint, and ad hoc runs."""
    root = tmp_path_factory.mktemp("suites")
    runs = root / "runs"
    old = {**DEMO, "version": "1"}
    edited = {**DEMO, "fingerprint": "e" * 64}
    paths = [
        write_run(runs, "cur-good", [accuracy_task("sst2", [100, 100, 0]), accuracy_task("snli", [100, 0])], suite=DEMO),
        write_run(runs, "cur-bad", [accuracy_task("sst2", [100, 0, 0]), accuracy_task("snli", [0, 0])], suite=DEMO),
        write_run(runs, "old-best", [accuracy_task("sst2", [100, 100, 100]), accuracy_task("snli", [100, 100])], suite=old),
        write_run(runs, "edited-best", [accuracy_task("sst2", [100, 100, 100]), accuracy_task("snli", [100, 100])], suite=edited),
        write_run(runs, "adhoc-best", [accuracy_task("sst2", [100, 100, 100])]),
    ]
    record = json.loads(paths[1].read_text())  # cur-bad never trained snli: a zero-shot score
    record["tasks"][1]["zero_shot"] = {"untrained_labels": ["neutral", "contradiction"]}
    paths[1].write_text(json.dumps(record))
    add_records(root / "lb.db", paths, n_boot=50)
    store = open_store(root / "lb.db", read_only=True)
    yield TestClient(create_app(store))
    store.close()


def test_the_board_shows_one_suite_protocol_ranked_and_the_other_sections_apart(suite_client: TestClient) -> None:
    page = suite_client.get("/").text
    # The default section is the suite's current protocol: ranked, never beside better scores of other protocols.
    assert run_ids(page) == ["cur-good", "cur-bad"]
    assert '<h2 id="section-title" class="ranked">demo v2 (decaScore over 2 tasks), fingerprint dddddddddddd</h2>' in page
    assert '<td class="num">1</td>' in page and '<td class="num">2</td>' in page and page.count('<td class="kind">run</td>') == 2
    options = re.findall(r'<option value="([^"]+)"[^>]*>([^<]+)</option>', page.split('id="section-form"')[1].split("</form>")[0])
    assert [key for key, _ in options] == ["demo@2@dddddddddddd", "demo@2@eeeeeeeeeeee", "demo@1@dddddddddddd", "adhoc"]
    assert all("not ranked" in label for _, label in options[1:]) and "not ranked" not in options[0][1]
    # A zero-shot score is marked and explained under the table.
    assert "0.0 [0.0, 0.0] †" in page and "† cur-bad: snli zero-shot; untrained labels: neutral, contradiction" in page

    older = suite_client.get("/?section=demo@1@dddddddddddd").text
    assert run_ids(older) == ["old-best"] and 'class="apart"' in older and "older version (current v2), not ranked" in older
    assert '<td class="num">–</td>' in older and '<td class="num">1</td>' not in older and "Shown apart, without rank" in older
    edited = suite_client.get("/?section=demo@2@eeeeeeeeeeee").text
    assert run_ids(edited) == ["edited-best"] and "scored on other examples or metrics" in edited

    adhoc = suite_client.get("/", params={"section": "adhoc"}).text
    assert run_ids(adhoc) == ["adhoc-best"] and "without rank or decaScore" in adhoc
    assert 'data-column="decaScore"' not in adhoc and '<td class="num">–</td>' in adhoc
    # Sorting and filtering stay inside the chosen section.
    assert run_ids(suite_client.get("/?section=demo@2@dddddddddddd&sort=decaScore:asc").text) == ["cur-bad", "cur-good"]
    assert 'name="section" value="demo@1@dddddddddddd"' in older  # the filter form keeps the section


def test_the_ranked_table_follows_every_add_and_removal_while_serving(tmp_path: Path, db_target: str) -> None:
    """The cached board is recomputed when the store's content changes, and only then."""
    from leaderboard.store import remove_runs
    from leaderboard.web import data

    runs = tmp_path / "runs"
    add_records(db_target, [write_run(runs, "a-0", [accuracy_task("sst2", [100, 0])])], n_boot=50)
    store = open_store(db_target, read_only=True)
    built: list[tuple[str, ...]] = []
    view = data._task_set_view
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(data, "_task_set_view", lambda scores, chosen, of_run, standing: built.append(chosen.tasks) or view(scores, chosen, of_run, standing))
            client = TestClient(create_app(store))
            assert run_ids(client.get("/").text) == ["a-0"]
            assert run_ids(client.get("/?sort=run_id:desc").text) == ["a-0"] and len(built) == 1  # sorted from the cache
            add_records(db_target, [write_run(runs, "b-0", [accuracy_task("sst2", [100, 100])])], n_boot=50)
            assert run_ids(client.get("/").text) == ["b-0", "a-0"] and len(built) == 2
            remove_runs(db_target, ["b-0"])
            assert run_ids(client.get("/").text) == ["a-0"] and len(built) == 3
    finally:
        store.close()


def test_after_a_change_only_the_runs_added_are_read_and_the_table_is_the_computed_one(tmp_path: Path, db_target: str) -> None:
    from leaderboard.store import remove_runs
    from leaderboard.web import data

    def run(i: int) -> Path:  # every decaScore differs: the ranking has no ties for storage order to break
        return write_run(tmp_path / "runs", f"r-{i}", [accuracy_task("sst2", [100] * i + [0] * (9 - i)), accuracy_task("rte", [100] * (i % 3) + [0] * (3 - i % 3))])

    add_records(db_target, [run(i) for i in range(6)], n_boot=50)
    store = open_store(db_target, read_only=True)
    cache, reads, read_rows = data.StoreCache(), [], data.read_rows

    def ranked() -> list[str]:
        with store.engine.connect() as conn:
            cached = data.ranked_table(conn, None, {}, None, memo=cache.at(conn))
            fresh = data.ranked_table(conn, None, {}, None)  # no cache: everything read afresh
        assert (cached.rows, cached.total, cached.options, cached.task_sets) == (fresh.rows, fresh.total, fresh.options, fresh.task_sets)
        return [r["run_id"] for r in cached.rows]

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(data, "read_rows", lambda conn, run_ids=None: reads.append(run_ids and sorted(run_ids)) or read_rows(conn, run_ids))
            assert ranked() == ["r-5", "r-2", "r-4", "r-1", "r-3", "r-0"] and reads == [None]  # the first request reads everything
            add_records(db_target, [run(6), run(7)], n_boot=50)
            assert ranked()[:2] == ["r-5", "r-7"] and reads == [None, ["r-6", "r-7"]]  # then only what was added
            remove_runs(db_target, ["r-3"])
            assert "r-3" not in ranked() and len(reads) == 2  # a removal reads nothing
            remove_runs(db_target, ["r-6"])
            add_records(db_target, [run(8)], n_boot=50)
            assert ranked()[:2] == ["r-8", "r-5"] and "r-6" not in ranked() and reads[2:] == [["r-8"]]
    finally:
        store.close()


def test_the_cached_ranked_table_is_the_computed_one(tmp_path: Path, db_target: str) -> None:
    """Every sort, filter and page answered from the cache equals the table computed afresh."""
    from leaderboard.sections import suite_sections
    from leaderboard.web import data

    suite_runs = [write_run(tmp_path / "runs", f"demo-{i}", [accuracy_task("sst2", [100, 0, i * 100]), accuracy_task("snli", [100, i * 100])],
                            suite=DEMO, backbone=["bert", "gpt"][i]) for i in range(2)]
    record = json.loads(suite_runs[1].read_text())  # a zero-shot score: its note must come from the cache too
    record["tasks"][1]["zero_shot"] = {"untrained_labels": ["neutral"]}
    suite_runs[1].write_text(json.dumps(record))
    add_records(db_target, write_runs(tmp_path / "runs") + suite_runs, n_boot=100)
    store = open_store(db_target, read_only=True)
    cache = data.StoreCache()
    try:
        with store.engine.connect() as conn:
            sections = [s.run_ids for s in suite_sections(conn)] + [None]
            for run_ids in sections:
                for task_key, filters, sort, page in [(None, {}, None, 1), (None, {"backbone": "bert"}, "run_id:desc", 1), ("cola", {}, None, 1),
                                                      (None, {"mixture": "none"}, "train_seconds:asc", 1), (None, {}, "sst2", 2)]:
                    args = (conn, task_key, filters, sort, page, 2, run_ids)
                    try:
                        fresh = data.ranked_table(*args)
                    except LeaderboardError as err:  # no such task set or sort column here: the cached path says the same
                        with pytest.raises(type(err), match=re.escape(str(err))):
                            data.ranked_table(*args, memo=cache.at(conn))
                        continue
                    for _ in range(2):  # the first call fills the cache, the second reads it
                        cached = data.ranked_table(*args, memo=cache.at(conn))
                        assert (cached.rows, cached.total, cached.options, cached.task_sets, cached.notes) == \
                            (fresh.rows, fresh.total, fresh.options, fresh.task_sets, fresh.notes)
    finally:
        store.close()


def test_the_store_cache_keeps_values_per_token_and_evicts_the_oldest() -> None:
    from leaderboard.web.data import StoreCache

    cache, calls = StoreCache(size=2), []
    compute = lambda value: lambda: calls.append(value) or value  # noqa: E731
    assert [cache.get("t1", k, compute(k)) for k in ("a", "b", "a")] == ["a", "b", "a"] and calls == ["a", "b"]
    cache.get("t1", "c", compute("c"))  # evicts b, the least recently used
    assert cache.get("t1", "b", compute("b2")) == "b2" and cache.get("t1", "a", compute("a2")) == "a2"
    assert cache.get("t2", "c", compute("c2")) == "c2"  # another token: nothing cached before counts
