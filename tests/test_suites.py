"""Benchmark suites: declarations, fingerprints, ``qabench suites|score|bench``, ``eval --suite`` and suite-ranked leaderboards.

The end-to-end tests use the ``quick`` suite (the bundled quickstart data),
so they need no mirror; a bench run is trained once, for a few steps.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from functools import partial
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from leaderboard_fixtures import accuracy_task, write_run

from harness.cli import main
from tasks.data import load_examples
from tasks.errors import TaskError
from tasks.metrics import ACCURACY, EM
from tasks.recipes import recast_template
from tasks.suite import all_suites, fingerprint, get_suite, load_suite_data, parse_suite

REPO = Path(__file__).resolve().parents[1]
QUICK_DATA = REPO / "harness" / "quickstart" / "data"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


# --- declarations ------------------------------------------------------------------------------------------------------


def test_built_in_suites_declare_their_tasks_splits_and_training() -> None:
    suites = {s.name: s for s in all_suites()}
    assert list(suites) == ["lecture", "decanlp", "glue", "quick"]
    assert suites["lecture"].task_names == ["sst2", "rte", "squad", "conll2003", "multi30k_en_de"]
    assert suites["lecture"].task("squad").split == "validation_b" and len(suites["lecture"].task("squad").ids) == 1000
    assert suites["decanlp"].score_label == "decaScore over 6 of 10 tasks"
    assert {name for name, _ in suites["decanlp"].absent} == {"cnn_dailymail", "wikisql", "qa_zre", "qa_srl", "mnli"}
    assert all(t.metric_variant == "decanlp" for t in suites["decanlp"].tasks)
    assert suites["glue"].score_label == "decaScore over 6 of 9 tasks"
    assert Path(suites["quick"].data_dir or "") == QUICK_DATA.resolve()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "version": "1", "tasks": [], "training": {"tasks": []}}, "each task once, at least one"),
        ({"name": "x", "version": "1", "tasks": [{"task": "sst2", "split": "validation", "idz": []}], "training": {"tasks": []}}, "unknown key 'idz' in tasks[0]; did you mean 'ids'?"),
        ({"name": "x", "version": "1", "tasks": [{"task": "sst2"}], "training": {"tasks": []}}, "tasks[0] lacks the key 'split'"),
        ({"name": "x", "tasks": [], "training": {}}, "suite lacks the key 'version'"),
    ],
)
def test_a_bad_suite_file_is_one_line_naming_the_file(data: dict, message: str) -> None:
    with pytest.raises(TaskError, match="my.json: ") as err:
        parse_suite(data, "my.json")
    assert message in str(err.value)


def test_an_unknown_suite_suggests_a_close_name() -> None:
    with pytest.raises(TaskError, match="unknown suite 'lectur'; did you mean 'lecture'"):
        get_suite("lectur")


# --- the fingerprint ---------------------------------------------------------------------------------------------------


def _quick_parts() -> tuple:
    data = load_suite_data(get_suite("quick"))
    return data.suite, list(data.tasks), dict(data.examples), data.fingerprint


def test_fingerprint_is_stable_and_covers_examples_template_metrics_and_versions() -> None:
    suite, tasks, examples, digest = _quick_parts()
    assert fingerprint(suite, tasks, examples) == digest == load_suite_data(get_suite("quick")).fingerprint

    # A changed template (the recast) changes the examples, so the fingerprint.
    sst2 = tasks[0]
    new_recast = partial(sst2.recast.func, **{**sst2.recast.keywords, "question": "Is this sentence {choices}?"})
    edited = dataclasses.replace(sst2, recast=new_recast)
    edited_examples = {**examples, "sst2": load_examples(edited, "validation", data_dir=QUICK_DATA)}
    assert edited_examples["sst2"][0].question != examples["sst2"][0].question
    assert fingerprint(suite, [edited, *tasks[1:]], edited_examples) != digest

    # Another metric, or a bumped task version, on the same examples.
    assert fingerprint(suite, [dataclasses.replace(sst2, metrics=(EM,)), *tasks[1:]], examples) != digest
    assert fingerprint(suite, [dataclasses.replace(sst2, version="2"), *tasks[1:]], examples) != digest
    # One example less.
    assert fingerprint(suite, tasks, {**examples, "rte": examples["rte"][:-1]}) != digest
    assert sst2.recast.func is recast_template and sst2.metrics == (ACCURACY,)


def test_an_evaluation_id_missing_from_the_data_is_an_error(tmp_path: Path) -> None:
    suite = get_suite("quick")
    path = tmp_path / "s.json"
    declared = json.loads(Path(suite.path).read_text())
    declared["tasks"][0]["ids"] = ["not-an-id"]
    declared["data_dir"] = str(QUICK_DATA)
    path.write_text(json.dumps(declared))
    with pytest.raises(TaskError, match="1 of the suite's 1 evaluation ids are not in the data"):
        load_suite_data(get_suite(str(path)))


# --- qabench suites ----------------------------------------------------------------------------------------------------


def test_suites_list_names_every_suite_and_its_score() -> None:
    result = invoke("suites", "list")
    assert result.exit_code == 0
    for line in ("lecture  1", "decanlp  1", "glue     1", "quick    1", "decaScore over 6 of 10 tasks"):
        assert line in result.output


def test_suites_show_gives_splits_sizes_metrics_and_fingerprint() -> None:
    _, _, _, digest = _quick_parts()
    result = invoke("suites", "show", "quick")
    assert result.exit_code == 0, result.output
    assert f"fingerprint {digest}" in result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines() if line.split() and line.split()[0] in ("sst2", "squad")}
    assert rows["sst2"][:5] == ["sst2", "v1", "validation", "20", "all"]
    assert rows["squad"][:6] == ["squad", "v1", "validation", "15", "all", "nf1,"]
    assert "bench trains on sst2, rte, squad, conll2003: proportional mixture, 200 steps of 8" in result.output


def test_suites_show_of_an_unknown_suite_is_exit_2() -> None:
    result = CliRunner().invoke(main, ["suites", "show", "glu"])
    assert result.exit_code == 2 and "unknown suite 'glu'; did you mean 'glue'?" in result.output


def test_suites_export_writes_inputs_without_answers(tmp_path: Path) -> None:
    result = invoke("suites", "export", "quick", "--out", str(tmp_path / "inputs"))
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "inputs" / "suite.json").read_text())
    assert [t["task"] for t in manifest["tasks"]] == ["sst2", "rte", "squad", "conll2003"]
    sst2 = [json.loads(line) for line in (tmp_path / "inputs" / "sst2.jsonl").read_text().splitlines()]
    assert len(sst2) == 20 and set(sst2[0]) == {"id", "question", "context", "choices"}
    conll = json.loads((tmp_path / "inputs" / "conll2003.jsonl").read_text().splitlines()[0])
    assert set(conll) == {"id", "question", "context", "tokens"}


# --- qabench score -----------------------------------------------------------------------------------------------------


def _answers(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "answers.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _first_sst2_ids(n: int) -> list[str]:
    return [e.id for e in load_examples(get_suite("quick").task("sst2").resolve(), "validation", data_dir=QUICK_DATA)[:n]]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"task": "sst2", "id": "%s", "answer": "positive"}', "not json"], ":2: not valid JSON"),
        (['{"task": "cola", "id": "%s", "answer": "positive"}'], ":1: task 'cola' is not in the suite"),
        (['{"task": "sst2", "id": "nope", "answer": "positive"}'], ":1: task 'sst2' has no evaluation id 'nope'"),
        (['{"task": "sst2", "id": "%s", "answer": "positive"}'] * 2, ":2: task 'sst2', id '%s' is answered twice"),
        (['{"task": "sst2", "id": "%s", "answer": 1}'], ":1: task 'sst2' (choice) takes a string as its answer, got 1"),
        (['{"task": "sst2", "id": "%s"}'], ":1: missing 'answer'"),
        (['["sst2"]'], ":1: expected a JSON object"),
    ],
)
def test_a_bad_predictions_file_is_one_line_exit_2_and_adds_nothing(tmp_path: Path, lines: list[str], message: str) -> None:
    first = _first_sst2_ids(1)[0]
    path = _answers(tmp_path, [line.replace("%s", first) for line in lines])
    db = tmp_path / "lb.db"
    result = CliRunner().invoke(main, ["score", "quick", str(path), "--name", "x", "--out", str(tmp_path / "out"), "--db", str(db)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and f"{path}{message.replace('%s', first)}" in result.output
    assert not (tmp_path / "out").exists() and not db.exists()


def test_missing_ids_score_as_wrong_and_are_counted(tmp_path: Path) -> None:
    ids = _first_sst2_ids(20)
    examples = {e.id: e for e in load_examples(get_suite("quick").task("sst2").resolve(), "validation", data_dir=QUICK_DATA)}
    path = _answers(tmp_path, [json.dumps({"task": "sst2", "id": i, "answer": examples[i].answer}) for i in ids[:10]])
    result = invoke("score", "quick", str(path), "--name", "half", "--out", str(tmp_path / "out"), "--no-leaderboard")
    assert result.exit_code == 0, result.output
    assert "missing: sst2: 10 of 20 ids had no answer" in result.output and "missing: rte: 20 of 20" in result.output
    record = json.loads(next((tmp_path / "out").glob("*/record.json")).read_text())
    assert record["kind"] == "external" and record["tasks"][0]["metrics"] == {"accuracy": 50.0}
    assert record["suite"]["name"] == "quick" and record["suite"]["fingerprint"] == _quick_parts()[3]


def test_the_two_baselines_are_scored_as_outside_systems(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from baselines import write_baselines
    finally:
        sys.path.remove(str(REPO / "bench"))
    assert invoke("suites", "export", "quick", "--out", str(tmp_path / "inputs")).exit_code == 0
    paths = write_baselines(tmp_path / "inputs", tmp_path / "answers")
    db = tmp_path / "lb.db"
    scores = {}
    for name, path in paths.items():
        result = invoke("score", "quick", str(path), "--name", name, "--meta", "parameters=0", "--out", str(tmp_path / "out"), "--db", str(db))
        assert result.exit_code == 0, result.output
        assert "missing:" not in result.output and "leaderboard: added to" in result.output
        scores[name] = float(result.output.split("decaScore ")[1].split()[0])
    assert scores["majority"] > 0 and scores["first"] > 0
    board = json.loads(invoke("leaderboard", "--db", str(db), "show", "--suite", "quick", "--json").output)
    assert {row["model"] for row in board} == {"majority", "first"} and [row["rank"] for row in board] == [1, 2]


# --- bench, eval --suite, and the score of a run's own predictions ------------------------------------------------------

FAST = ("--set", "optim.steps=4", "--set", "optim.batch_size=4", "--set", "threads=1", "-q")


@pytest.fixture(scope="module")
def benched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path]:
    """A bert-tiny trained by the quick suite's protocol for a few steps; its run directory, record and database."""
    root = tmp_path_factory.mktemp("bench")
    db = root / "lb.db"
    result = CliRunner().invoke(main, ["bench", "quick", *FAST, "--set", f"output.dir={root / 'runs'}", "--set", f"output.db={db}"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    record_path = Path(result.output.split("record: ")[1].split()[0])
    return record_path.parent, json.loads(record_path.read_text()), db


def test_bench_records_the_suite_and_adds_the_run(benched: tuple[Path, dict, Path]) -> None:
    _, record, db = benched
    assert record["kind"] == "run" and record["source_run"] is None
    assert record["suite"] == {"name": "quick", "version": "1", "fingerprint": _quick_parts()[3], "score": "decaScore over 4 tasks",
                               "tasks": 4, "benchmark_tasks": None}
    assert [(t["name"], t["split"], t["examples"]) for t in record["tasks"]] == [("sst2", "validation", 20), ("rte", "validation", 20),
                                                                                 ("squad", "validation", 15), ("conll2003", "validation", 20)]
    board = json.loads(invoke("leaderboard", "--db", str(db), "show", "--suite", "quick", "--json").output)
    assert [row["run_id"] for row in board] == [record["run_id"]]


def test_scoring_a_runs_own_predictions_reproduces_its_record_exactly(benched: tuple[Path, dict, Path], tmp_path: Path) -> None:
    run_dir, record, _ = benched
    result = invoke("score", "quick", str(run_dir / "predictions.jsonl"), "--name", "again", "--out", str(tmp_path), "--no-leaderboard")
    assert result.exit_code == 0, result.output
    again = json.loads(next(tmp_path.glob("*/record.json")).read_text())
    assert [t["metrics"] for t in again["tasks"]] == [t["metrics"] for t in record["tasks"]]  # to the last digit
    assert [t["fingerprint"] for t in again["tasks"]] == [t["fingerprint"] for t in record["tasks"]]
    assert again["deca_score"] == record["deca_score"] and again["suite"] == record["suite"]


def test_eval_suite_is_an_evaluation_of_the_run_without_its_training_time(benched: tuple[Path, dict, Path]) -> None:
    run_dir, record, db = benched
    result = invoke("eval", str(run_dir), "--suite", "quick", "--no-leaderboard")
    assert result.exit_code == 0, result.output
    assert "leaderboard: skipped" in result.output
    again = json.loads(Path(result.output.split("record: ")[1].split()[0]).read_text())
    assert again["kind"] == "evaluation" and again["source_run"] == record["run_id"] and again["run_id"] != record["run_id"]
    assert again["training"]["regime"] == "multitask" and again["timings"]["train_seconds"] is None
    assert [t["metrics"] for t in again["tasks"]] == [t["metrics"] for t in record["tasks"]]
    assert again["suite"] == record["suite"]


def test_bench_refuses_a_run_together_with_a_model() -> None:
    result = CliRunner().invoke(main, ["bench", "quick", "--run", ".", "--model", "gpt"])
    assert result.exit_code == 2 and "--run evaluates a trained run" in result.output


# --- the leaderboard ranks only comparable entries -----------------------------------------------------------------------


def _suite_ref(version: str = "1", digest: str | None = None) -> dict:
    return {"name": "quick", "version": version, "fingerprint": digest or _quick_parts()[3], "score": "decaScore over 4 tasks"}


@pytest.fixture
def mixed_db(tmp_path: Path) -> Path:
    """Entries of the current quick suite, of an older version, of another fingerprint, and outside any suite."""
    runs = tmp_path / "runs"
    paths = [
        write_run(runs, "cur-a", [accuracy_task("sst2", [100, 100, 0])], suite=_suite_ref()),
        write_run(runs, "cur-b", [accuracy_task("sst2", [100, 0, 0])], suite=_suite_ref()),
        write_run(runs, "cur-a-again", [accuracy_task("sst2", [100, 100, 0])], suite=_suite_ref(), kind="evaluation", source_run="cur-a"),
        write_run(runs, "old", [accuracy_task("sst2", [100, 100, 100])], suite=_suite_ref("0")),
        write_run(runs, "edited", [accuracy_task("sst2", [100, 100, 100])], suite=_suite_ref("1", "f" * 64)),
        write_run(runs, "adhoc", [accuracy_task("rte", [0, 100])]),
    ]
    db = tmp_path / "lb.db"
    assert invoke("leaderboard", "--db", str(db), "add", *map(str, paths)).exit_code == 0
    return db


def test_show_suite_ranks_the_current_protocol_and_shows_the_rest_apart(mixed_db: Path) -> None:
    out = invoke("leaderboard", "--db", str(mixed_db), "show", "--suite", "quick").output
    sections = [line for line in out.splitlines() if line.startswith("== ")]
    assert sections[0].startswith("== quick v1 (decaScore over 4 tasks), fingerprint ")
    assert "== quick v1, fingerprint ffffffffffff: scored on other examples or metrics than the current quick v1, not ranked with it" in sections
    assert "== quick v0: older version (current v1), not ranked with it" in sections
    assert not any("ad hoc" in s for s in sections)
    ranked = out.split("== ")[1].splitlines()
    assert [line.split()[:2] for line in ranked[2:5]] == [["1", "cur-a"], ["2", "cur-a-again"], ["3", "cur-b"]]
    assert "evaluation of cur-a" in ranked[3]
    ranked_json = json.loads(invoke("leaderboard", "--db", str(mixed_db), "show", "--suite", "quick", "--json").output)
    assert [(r["rank"], r["run_id"]) for r in ranked_json] == [(1, "cur-a"), (2, "cur-a-again"), (3, "cur-b")]


def test_show_without_suite_has_a_table_per_suite_and_an_ad_hoc_table(mixed_db: Path) -> None:
    out = invoke("leaderboard", "--db", str(mixed_db), "show").output
    sections = [line for line in out.splitlines() if line.startswith("== ")]
    assert len(sections) == 4 and sections[-1].startswith("== ad hoc: runs outside any suite")
    adhoc = out.split("== ad hoc")[1].splitlines()
    assert "decaScore" not in adhoc[1] and adhoc[2].split()[:2] == ["–", "adhoc"]


def test_export_takes_a_suite(mixed_db: Path) -> None:
    text = invoke("leaderboard", "--db", str(mixed_db), "export", "--format", "md", "--suite", "quick").output
    assert "### qabench leaderboard: quick v1" in text
    assert "| cur-a |" in text and "| cur-b |" in text and "| old |" not in text and "| edited |" not in text and "| adhoc |" not in text


def test_export_without_a_suite_ranks_within_each_suite_protocol_only(mixed_db: Path) -> None:
    text = invoke("leaderboard", "--db", str(mixed_db), "export", "--format", "md").output
    blocks = text.split("\n#### ")[1:]
    assert [b.splitlines()[0][:12] for b in blocks] == ["quick v1 (de", "quick v1, fi", "quick v0: ol", "ad hoc: runs"]
    rows = lambda block: [line.split(" | ")[:2] for line in block.splitlines() if line.startswith("| ") and not line.startswith("| #")]  # noqa: E731
    assert rows(blocks[0]) == [["| 1", "cur-a"], ["| 2", "cur-a-again"], ["| 3", "cur-b"]]
    assert rows(blocks[1]) == [["| –", "edited"]] and rows(blocks[2]) == [["| –", "old"]] and rows(blocks[3]) == [["| –", "adhoc"]]
    assert "decaScore" in blocks[2] and "decaScore |" not in blocks[3]  # an older version keeps its sum; ad hoc runs have none

    latex = invoke("leaderboard", "--db", str(mixed_db), "export", "--format", "latex").output
    assert latex.count("\\begin{tabular}") == 4 and "\n1 & cur-a & " in latex and "\n-- & old & " in latex

    import io

    import pandas as pd

    frame = pd.read_csv(io.StringIO(invoke("leaderboard", "--db", str(mixed_db), "export", "--format", "csv").output))
    assert list(frame.columns[:4]) == ["section", "standing", "rank", "run_id"]
    assert list(frame["run_id"]) == ["cur-a", "cur-a-again", "cur-b", "edited", "old", "adhoc"]
    assert list(frame["standing"]) == ["ranked"] * 3 + ["apart", "apart", "adhoc"]
    assert frame["rank"].tolist()[:3] == [1, 2, 3] and frame["rank"].iloc[3:].isna().all()
    assert frame["section"].iloc[0].startswith("quick@1@") and frame["section"].iloc[-1] == "adhoc"
    assert pd.isna(frame.loc[frame["run_id"] == "adhoc", "decaScore"]).all() and frame.loc[frame["run_id"] == "old", "decaScore"].iloc[0] == 100.0


def test_the_html_export_without_a_suite_plots_only_ranked_sections(mixed_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "board.html"
    assert invoke("leaderboard", "--db", str(mixed_db), "export", "--format", "html", "-o", str(out)).exit_code == 0
    page = out.read_text()
    assert page.count("<h2>") == 4 and page.count("<table") == 4
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 3  # the current protocol's plots; no plot mixes protocols
    assert '<td class="num">1</td><td>cur-a</td>' in page and '<td class="num">–</td><td>old</td>' in page


def test_show_json_without_a_suite_names_each_entrys_section_and_ranks_only_within_one(mixed_db: Path) -> None:
    entries = json.loads(invoke("leaderboard", "--db", str(mixed_db), "show", "--json").output)
    assert [(e["run_id"], e["standing"], e.get("rank")) for e in entries] == [
        ("cur-a", "ranked", 1), ("cur-a-again", "ranked", 2), ("cur-b", "ranked", 3), ("edited", "apart", None), ("old", "apart", None),
        ("adhoc", "adhoc", None),
    ]
    assert entries[4]["section"]["version"] == "0" and entries[3]["section"]["fingerprint"] == "f" * 64 and entries[5]["section"]["suite"] is None
    only_rte = json.loads(invoke("leaderboard", "--db", str(mixed_db), "show", "--tasks", "rte", "--json").output)
    assert [e["run_id"] for e in only_rte] == ["adhoc"]  # sections without rte are left out, not an error


def test_group_by_counts_trained_runs_not_re_evaluations(mixed_db: Path) -> None:
    groups = json.loads(invoke("leaderboard", "--db", str(mixed_db), "show", "--group-by", "model", "--json").output)
    # Groups form within a section: the current quick protocol has three entries, one of them an evaluation of cur-a.
    assert groups[0]["runs"] == 2 and groups[0]["rank"] == 1 and groups[0]["section"]["suite"] == "quick"
    assert [g["runs"] for g in groups[1:]] == [1, 1, 1] and all("rank" not in g for g in groups[1:])


def test_compare_across_suite_versions_says_why_in_one_line(mixed_db: Path) -> None:
    result = CliRunner().invoke(main, ["leaderboard", "--db", str(mixed_db), "compare", "cur-a", "old"])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "cannot compare cur-a and old: suite quick v1 vs quick v0" in result.output


def test_rm_removes_entries_and_an_unknown_id_removes_nothing(mixed_db: Path) -> None:
    bad = CliRunner().invoke(main, ["leaderboard", "--db", str(mixed_db), "rm", "old", "nope"])
    assert bad.exit_code == 2 and "no run 'nope'" in bad.output
    result = invoke("leaderboard", "--db", str(mixed_db), "rm", "old", "edited")
    assert result.output.splitlines() == ["removed: old", "removed: edited"]
    sections = [line for line in invoke("leaderboard", "--db", str(mixed_db), "show").output.splitlines() if line.startswith("== ")]
    assert len(sections) == 2


def test_an_older_database_is_migrated_with_kinds_suites_and_zero_shot_flags_from_its_records(tmp_path: Path) -> None:
    import shutil
    import sqlite3

    from leaderboard import store

    db = tmp_path / "old.db"
    shutil.copy(REPO / "tests" / "fixtures" / "leaderboard-v1.db", db)
    with sqlite3.connect(db) as conn:  # one of its records, as a suite evaluation with a zero-shot task would read
        run_id, record_json = conn.execute("SELECT run_id, record_json FROM runs ORDER BY run_id LIMIT 1").fetchone()
        record = json.loads(record_json)
        record.update(kind="evaluation", source_run="trained-run", suite=_suite_ref())
        record["tasks"][0]["zero_shot"] = {"untrained_labels": ["neutral"]}
        conn.execute("UPDATE runs SET record_json = ? WHERE run_id = ?", (json.dumps(record), run_id))
    conn.close()
    store.upgrade_db(db)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT run_id, kind, source_run, suite, suite_version FROM runs ORDER BY run_id").fetchall()
        assert rows[0] == (run_id, "evaluation", "trained-run", "quick", "1") and rows[1][1:] == ("run", None, None, None)
        flagged = conn.execute("SELECT run_id, task, zero_shot FROM task_results WHERE zero_shot IS NOT NULL").fetchall()
        assert flagged == [(run_id, record["tasks"][0]["name"], '["neutral"]')]
    conn.close()



# --- every score says what it is ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["conll2003", "wnut17", "ud_pos", "multi30k_en_de", "multi30k_de_en", "woz", "snli"])
def test_tasks_declare_the_hubs_test_split(name: str) -> None:
    from tasks.registry import get

    assert "test" in get(name).splits


def test_a_test_split_at_the_hub_path_is_read_and_a_missing_one_is_reported_missing(tmp_path: Path) -> None:
    from tasks.registry import get

    conll = get("conll2003")
    target = tmp_path / "eriktks" / "conll2003" / "conll2003"
    target.mkdir(parents=True)
    (target / "test.jsonl").write_text("\n".join(json.dumps(row) for row in conll.sample_rows) + "\n")
    assert len(load_examples(conll, "test", data_dir=tmp_path)) == len(conll.sample_rows)
    (target / "test.jsonl").unlink()
    with pytest.raises(TaskError, match="split 'test' is not available locally"):
        load_examples(conll, "test", data_dir=tmp_path)


def test_scores_on_other_splits_get_their_own_column_named_with_the_split(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    paths = [
        write_run(runs, "val", [accuracy_task("snli", [100, 0])]),
        write_run(runs, "test", [accuracy_task("snli", [100, 100, 0], split="test")]),
        write_run(runs, "val-small", [accuracy_task("snli", [100])]),
    ]
    db = tmp_path / "lb.db"
    assert invoke("leaderboard", "--db", str(db), "add", *map(str, paths)).exit_code == 0
    header = invoke("leaderboard", "--db", str(db), "show").output.splitlines()[1]
    assert "snli (accuracy, n=2)" in header and "snli (accuracy, test)" in header and "snli (accuracy, n=1)" in header
    rows = {r["run_id"]: r["tasks"] for r in json.loads(invoke("leaderboard", "--db", str(db), "show", "--json").output)}
    (test_key,) = [key for key, entry in rows["test"].items() if entry["split"] == "test"]
    assert rows["test"][test_key]["score"] is not None and rows["val"][test_key]["score"] is None
    assert [entry["score"] for key, entry in rows["test"].items() if key != test_key] == [None, None]  # one column per example set


def test_a_zero_shot_score_is_marked_and_explained(tmp_path: Path) -> None:
    path = write_run(tmp_path / "runs", "rte-model", [accuracy_task("rte", [100, 0]), accuracy_task("snli", [0, 100])])
    record = json.loads(path.read_text())
    record["tasks"][1]["zero_shot"] = {"untrained_labels": ["neutral", "contradiction"]}
    path.write_text(json.dumps(record))
    db = tmp_path / "lb.db"
    assert invoke("leaderboard", "--db", str(db), "add", str(path)).exit_code == 0
    out = invoke("leaderboard", "--db", str(db), "show").output
    assert "50.0 [0.0, 100.0] †" in out and "† rte-model: snli zero-shot; untrained labels: neutral, contradiction" in out
    markdown = invoke("leaderboard", "--db", str(db), "export", "--format", "md").output
    assert "sum.\n\n† rte-model: snli zero-shot; untrained labels: neutral, contradiction\n" in markdown
    row = json.loads(invoke("leaderboard", "--db", str(db), "show", "--json").output)[0]
    assert row["tasks"]["snli"]["zero_shot"] == {"untrained_labels": ["neutral", "contradiction"]} and "zero_shot" not in row["tasks"]["rte"]


@pytest.mark.mirror
@pytest.mark.parametrize("name", ["lecture", "decanlp", "glue"])
def test_every_built_in_suite_resolves_on_the_mirror(name: str, mirror: Path) -> None:
    data = load_suite_data(get_suite(name), mirror)
    for entry, task in zip(data.suite.tasks, data.tasks):
        assert len(data.examples[task.name]) == (len(entry.ids) if entry.ids else len(load_examples(task, entry.split, data_dir=mirror)))
    if name == "decanlp":  # decaNLP's own definitions, by name in the record
        assert [m.name for m in data.entry("sst2")[0].metrics] == ["decanlp_em"]
        assert [m.name for m in data.entry("iwslt2017")[0].metrics] == ["decanlp_bleu"]


def test_the_quickstart_evaluates_exactly_the_quick_suite_and_a_limited_run_does_not() -> None:
    from tasks.suite import Evaluated, followed_suite

    suite, tasks, examples, digest = _quick_parts()
    evaluated = [Evaluated(t, "validation", examples[t.name], whole=True) for t in tasks]
    assert followed_suite(evaluated, QUICK_DATA).fingerprint == digest
    assert followed_suite(evaluated, "/some/mirror") is None  # the same task names over other data
    assert followed_suite([dataclasses.replace(evaluated[0], whole=False), *evaluated[1:]], QUICK_DATA) is None
    assert followed_suite(evaluated[:3], QUICK_DATA) is None


def test_zero_shot_marks_survive_grouping_and_every_export(tmp_path: Path) -> None:
    paths = []
    for run_id, seed, zero in (("rte-0", 0, ["neutral", "contradiction"]), ("rte-1", 1, None)):
        path = write_run(tmp_path / "runs", run_id, [accuracy_task("rte", [100, 0]), accuracy_task("snli", [0, 100])], seed=seed)
        record = json.loads(path.read_text())
        if zero:
            record["tasks"][1]["zero_shot"] = {"untrained_labels": zero}
        path.write_text(json.dumps(record))
        paths.append(path)
    db = tmp_path / "lb.db"
    assert invoke("leaderboard", "--db", str(db), "add", *map(str, paths)).exit_code == 0
    grouped = invoke("leaderboard", "--db", str(db), "show", "--group-by", "model").output
    assert "50.0 ± 0.0 †" in grouped and "† model bert-tiny: snli zero-shot in 1 of 2 entries; untrained labels: neutral, contradiction" in grouped
    group = json.loads(invoke("leaderboard", "--db", str(db), "show", "--group-by", "model", "--json").output)[0]
    assert group["tasks"]["snli"]["zero_shot"] == {"untrained_labels": ["neutral", "contradiction"], "runs": 1, "of": 2}
    latex = invoke("leaderboard", "--db", str(db), "export", "--format", "latex").output
    assert "{\\scriptsize [0.0, 100.0]}$^\\dagger$" in latex and "\\par{\\footnotesize $^\\dagger$ rte-0: snli zero-shot; untrained labels: neutral, contradiction}" in latex
    import io

    import pandas as pd

    frame = pd.read_csv(io.StringIO(invoke("leaderboard", "--db", str(db), "export", "--format", "csv").output), keep_default_na=False)
    assert dict(zip(frame["run_id"], frame["snli_zero_shot"])) == {"rte-0": "zero-shot; untrained labels: neutral, contradiction", "rte-1": ""}
    page = invoke("leaderboard", "--db", str(db), "export", "--format", "html").output
    assert '<p class="note">† rte-0: snli zero-shot; untrained labels: neutral, contradiction</p>' in page


def test_a_run_trained_off_the_suites_training_protocol_says_so(tmp_path: Path) -> None:
    lecture = {"name": "lecture", "version": "1", "fingerprint": "c" * 64, "score": "decaScore over 5 tasks"}
    paths = []
    for run_id, steps, kind in (("by-protocol", 1000, None), ("short", 300, None), ("outside", None, "external")):
        path = write_run(tmp_path / "runs", run_id, [accuracy_task("sst2", [100, 0])], suite=lecture, kind=kind)
        record = json.loads(path.read_text())
        record["training"]["steps"] = steps
        path.write_text(json.dumps(record))
        paths.append(path)
    db = tmp_path / "lb.db"
    assert invoke("leaderboard", "--db", str(db), "add", *map(str, paths)).exit_code == 0
    out = invoke("leaderboard", "--db", str(db), "show", "--sort", "run_id").output
    kinds = {m.group(1): m.group(2) for m in re.finditer(r"^\S+\s+(\S+)\s+(run, off protocol: 300 of 1000 steps|run|external)\s", out, re.M)}
    assert kinds == {"by-protocol": "run", "outside": "external", "short": "run, off protocol: 300 of 1000 steps"}
    rows = {r["run_id"]: r for r in json.loads(invoke("leaderboard", "--db", str(db), "show", "--json").output)}
    assert rows["short"]["training_deviation"] == "300 of 1000 steps" and rows["by-protocol"]["training_deviation"] is None
