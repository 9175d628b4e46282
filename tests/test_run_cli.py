"""`qabench run / train / eval` end to end through click's CliRunner, on the bundled quickstart data.

Runs are kept tiny (a few steps) so the whole file takes well under two minutes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.config import QUICKSTART

# A few steps: the pipeline, not a result.
FAST = ("--set", "optim.steps=6", "--set", "optim.batch_size=4", "-q")
# Three formats on a handful of examples, for the tests that run several times.
SMALL = ("--set", "tasks=[{name: sst2, train_limit: 8, eval_limit: 6}, {name: squad, train_limit: 8, eval_limit: 6}, {name: conll2003, train_limit: 8, eval_limit: 6}]")



class Interrupted(Exception):
    """A crash in the middle of training (click turns KeyboardInterrupt into an exit code)."""


def invoke(*args: str) -> object:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def run_quickstart(tmp_path: Path, *extra: str) -> tuple[object, dict]:
    result = invoke("run", *FAST, "--set", f"output.dir={tmp_path / 'runs'}", *extra)
    assert result.exit_code == 0, result.output
    record_path = Path(result.output.split("record: ")[1].split()[0])
    return result, json.loads(record_path.read_text())


def without_times(record: dict) -> dict:
    """A record minus what legitimately differs between two identical runs: ids, clocks and output paths."""
    skip = {"run_id", "created", "timings"}
    out = {k: v for k, v in record.items() if k not in skip}
    out["config"] = {**record["config"], "output": {**record["config"]["output"], "dir": None}}
    return out


def test_quickstart_runs_end_to_end_and_is_read_by_the_leaderboard(tmp_path: Path) -> None:
    result, record = run_quickstart(tmp_path)
    assert "decaScore" in result.output and "leaderboard: added to" in result.output
    assert [t["name"] for t in record["tasks"]] == ["sst2", "rte", "squad", "conll2003"]
    assert record["schema_version"] == 1 and record["head_mode"] == "typed"
    assert record["training"]["steps"] == 6

    from leaderboard.records import load_run

    run = load_run(Path(record["config"]["output"]["dir"]) / record["run_id"] / "record.json")
    assert {name: len(rows) for name, rows in run.predictions.items()} == {t["name"]: t["examples"] for t in record["tasks"]}
    assert record["deca_score"] == pytest.approx(sum(t["metrics"][t["headline"]] for t in record["tasks"]))


def test_a_record_times_preparation_training_and_evaluation_apart_with_tokens_beside_examples(tmp_path: Path) -> None:
    _, record = run_quickstart(tmp_path)
    timings = record["timings"]
    assert {"prepare_seconds", "train_seconds", "eval_seconds"} <= {k for k, v in timings.items() if v and v > 0}
    # a token is at least one per example (questions and contexts run longer), so tokens/s exceed examples/s
    assert timings["train_tokens_per_second"] > timings["train_examples_per_second"] > 0
    assert timings["eval_tokens_per_second"] > timings["eval_examples_per_second"] > 0


def test_two_runs_with_one_seed_give_the_same_record_apart_from_times(tmp_path: Path) -> None:
    _, first = run_quickstart(tmp_path / "a", *SMALL)
    _, second = run_quickstart(tmp_path / "b", *SMALL)
    assert without_times(first) == without_times(second)
    predictions = [(tmp_path / d / "runs" / r["run_id"] / "predictions.jsonl").read_text() for d, r in (("a", first), ("b", second))]
    assert predictions[0] == predictions[1]


def test_resume_after_an_interruption_gives_exactly_the_uninterrupted_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkpoints = (*SMALL, "--set", "output.checkpoint_every=2", "--set", "output.leaderboard=false")
    _, whole = run_quickstart(tmp_path / "whole", *checkpoints)

    import harness.train

    real_save = harness.train.save_checkpoint

    def save_then_crash(path: Path, state: dict) -> None:
        real_save(path, state)
        if state["step"] == 4:
            raise Interrupted("simulated crash right after the step-4 checkpoint")

    monkeypatch.setattr(harness.train, "save_checkpoint", save_then_crash)
    with pytest.raises(Interrupted):
        invoke("run", *FAST, "--set", f"output.dir={tmp_path / 'cut' / 'runs'}", *checkpoints)
    monkeypatch.setattr(harness.train, "save_checkpoint", real_save)
    (run_dir,) = (tmp_path / "cut" / "runs").iterdir()
    assert not (run_dir / "record.json").exists()

    _, resumed = run_quickstart(tmp_path / "cut", *checkpoints, "--resume", str(run_dir))
    assert resumed["training"]["resumed_from_step"] == 4
    assert [t["metrics"] for t in resumed["tasks"]] == [t["metrics"] for t in whole["tasks"]]
    assert (run_dir / "predictions.jsonl").read_text() == (tmp_path / "whole" / "runs" / whole["run_id"] / "predictions.jsonl").read_text()


def test_train_then_eval_another_split(tmp_path: Path) -> None:
    result = invoke("train", str(QUICKSTART), *FAST, "--set", f"output.dir={tmp_path}")
    assert result.exit_code == 0, result.output
    run_dir = result.output.split("run: ")[1].split()[0]
    result = invoke("eval", run_dir, "--tasks", "sst2,conll2003", "--split", "train")
    assert result.exit_code == 0, result.output
    record = json.loads((Path(run_dir) / "record.json").read_text())
    assert [(t["name"], t["split"], t["examples"]) for t in record["tasks"]] == [("sst2", "train", 40), ("conll2003", "train", 41)]


def test_eval_answers_an_untrained_task_zero_shot_through_the_head_of_its_format(tmp_path: Path) -> None:
    # The label-word choice head (heads.choice: words) is the one that answers new label words zero-shot.
    result = invoke("train", str(QUICKSTART), *FAST, "--set", f"output.dir={tmp_path}", "--set", "tasks=[sst2]", "--set", "heads.choice=words")
    assert result.exit_code == 0, result.output
    run_dir = result.output.split("run: ")[1].split()[0]
    result = invoke("eval", run_dir, "--tasks", "sst2,rte", "--limit", "5")  # rte shares sst2's choice head
    assert result.exit_code == 0, result.output
    record = json.loads((Path(run_dir) / "record.json").read_text())
    assert [(t["name"], t["examples"]) for t in record["tasks"]] == [("sst2", 5), ("rte", 5)]
    # rte's label words were never choices in training: flagged in the record, and eval says so.
    assert "zero_shot" not in record["tasks"][0]
    assert record["tasks"][1]["zero_shot"] == {"untrained_labels": ["entailment", "not entailment"]}
    assert "warning: rte was not trained: zero-shot; untrained labels: entailment, not entailment" in result.output
    result = invoke("eval", run_dir, "--tasks", "conll2003")  # no tag layer for conll2003's labels
    assert result.exit_code == 2
    assert "error: --tasks: 'conll2003' was not trained in" in result.output and "needs a tags head" in result.output
    result = invoke("eval", run_dir, "--tasks", "sst3")
    assert result.exit_code == 2 and "unknown task 'sst3'; did you mean 'sst2'?" in result.output


def test_every_untrained_task_is_flagged_zero_shot_in_the_text_head_mode_too(tmp_path: Path) -> None:
    result = invoke("train", str(QUICKSTART), *FAST, "--set", f"output.dir={tmp_path}", "--set", "tasks=[sst2]", "--set", "heads.mode=text")
    assert result.exit_code == 0, result.output
    run_dir = result.output.split("run: ")[1].split()[0]
    result = invoke("eval", run_dir, "--tasks", "sst2,rte,squad,conll2003", "--limit", "3", "--no-leaderboard")
    assert result.exit_code == 0, result.output
    flags = {t["name"]: t.get("zero_shot") for t in json.loads((Path(run_dir) / "record.json").read_text())["tasks"]}
    # One text head answers every format: each task it never trained on is zero-shot, with the labels it never wrote.
    assert flags["sst2"] is None and flags["rte"] == {"untrained_labels": ["entailment", "not entailment"]}
    assert flags["squad"] == {"untrained_labels": []}
    assert flags["conll2003"]["untrained_labels"][:3] == ["O", "B-PER", "I-PER"]
    assert "warning: squad was not trained: zero-shot\n" in result.output and "warning: conll2003 was not trained: zero-shot; untrained labels: O, B-PER" in result.output


def test_a_task_a_run_evaluates_without_training_is_flagged_zero_shot(tmp_path: Path) -> None:
    # rte's new label words are answered zero-shot by the label-word choice head (heads.choice: words).
    tasks = "tasks=[sst2, {name: rte, train: false}, {name: squad, train: false}]"
    _, record = run_quickstart(tmp_path, "--set", tasks, "--set", "heads.choice=words", "--set", "output.leaderboard=false")
    flags = {t["name"]: t.get("zero_shot") for t in record["tasks"]}
    assert flags == {"sst2": None, "rte": {"untrained_labels": ["entailment", "not entailment"]}, "squad": {"untrained_labels": []}}
    assert record["training"]["train_tasks"] == ["sst2"]


def test_the_linear_choice_head_answers_its_own_label_set_and_refuses_new_label_words(tmp_path: Path) -> None:
    result = invoke("train", str(QUICKSTART), *FAST, "--set", f"output.dir={tmp_path}", "--set", "tasks=[sst2]", "--set", "heads.choice=linear")
    assert result.exit_code == 0, result.output
    run_dir = result.output.split("run: ")[1].split()[0]
    assert json.loads((Path(run_dir) / "model" / "heads.json").read_text())["specs"]["sst2"]["num_labels"] == 2
    result = invoke("eval", run_dir, "--tasks", "sst2", "--limit", "5")
    assert result.exit_code == 0, result.output
    result = invoke("eval", run_dir, "--tasks", "rte", "--limit", "5")  # other label words: the linear head has no output for them
    assert result.exit_code == 2
    assert "needs a choice head for the labels of 'rte'" in result.output and "heads.choice: words answers new label words zero-shot" in result.output


def test_data_dir_overrides_the_config_data_dir_in_run_and_in_eval_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundled = QUICKSTART.parent / "data"
    mirror = tmp_path / "mirror"
    (mirror / "nyu-mll" / "glue" / "sst2").mkdir(parents=True)
    for split, rows in (("train", 40), ("validation", 3)):
        lines = (bundled / "nyu-mll" / "glue" / "sst2" / f"{split}.jsonl").read_text().splitlines(keepends=True)
        (mirror / "nyu-mll" / "glue" / "sst2" / f"{split}.jsonl").write_text("".join(lines[:rows]))
    monkeypatch.setenv("QABENCH_DATA", str(tmp_path / "nowhere"))  # only used where neither --data-dir nor the config names one
    result = invoke("--data-dir", str(mirror), "run", *FAST, "--set", f"output.dir={tmp_path / 'runs'}", "--set", "tasks=[sst2]")
    assert result.exit_code == 0, result.output
    record = json.loads(Path(result.output.split("record: ")[1].split()[0]).read_text())
    assert record["config"]["data_dir"] == str(mirror) and record["tasks"][0]["examples"] == 3  # not the quickstart's data: 20
    run_dir = Path(record["config"]["output"]["dir"]) / record["run_id"]
    result = invoke("--data-dir", str(bundled), "eval", str(run_dir))
    assert result.exit_code == 0, result.output
    again = json.loads(Path(result.output.split("record: ")[1].split()[0]).read_text())
    assert again["config"]["data_dir"] == str(bundled.resolve()) and again["tasks"][0]["examples"] == 20


def test_a_choice_task_evaluated_zero_shot_needs_a_trained_layer_for_its_labels_or_the_words_head() -> None:
    from harness.adapters import head_specs
    from harness.config import load_config
    from harness.errors import UserError
    from harness.prepare import RunTask, new_model, untrained_label_layers
    from tasks.registry import get

    tasks = [RunTask(get("sst2"), "train", "validation", None, None), RunTask(get("cola"), None, "validation", None, None)]  # cola: evaluated only
    with pytest.raises(UserError, match="'cola' is evaluated without training and no trained task shares its labels.*heads.choice: words answers"):
        new_model(load_config(QUICKSTART), tasks, {"sst2": []}, {})
    specs = head_specs([get("sst2"), get("rte"), get("qnli")], task_specific=False, choice="linear")
    untrained_label_layers(specs, {"sst2", "rte"}, load_config(QUICKSTART))  # qnli answers through rte's layer: nothing refused
    assert specs["qnli"].key("qnli") == specs["rte"].key("rte") == "choice-qnli"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("--set", "tasks=[sst2, sst3]"), "unknown task 'sst3'; did you mean 'sst2'?"),
        (("--set", "model.backbone=bret"), "unknown backbone 'bret'"),
        (("--set", "optim.lernrate=1"), "unknown key 'optim.lernrate'"),
        (("--set", "optim.steps=many"), "optim.steps must be int"),
        (("--set", "heads.decoder=huge"), "heads.decoder must be one of"),
        (("--set", "heads.choice=mlp"), "heads.choice must be one of words, linear"),
        (("--set", "optim.lr=1e30"), "training diverged"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_without_a_record(tmp_path: Path, overrides: tuple[str, ...], message: str) -> None:
    result = CliRunner().invoke(main, ["run", *FAST, *SMALL, "--set", f"output.dir={tmp_path}", *overrides])
    assert result.exit_code == 2, result.output
    error_lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and message in error_lines[0], result.output
    assert not list(tmp_path.rglob("record.json"))


def test_unknown_key_in_a_file_names_the_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("tasks: [sst2]\noptim:\n  steps: 3\n  stpes: 4\n")
    result = CliRunner().invoke(main, ["run", str(config)])
    assert result.exit_code == 2
    assert f"{config}:4: unknown key 'optim.stpes'; did you mean 'steps'?" in result.output


def test_corrupt_checkpoint_for_resume_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "run" / "checkpoints" / "last.safetensors"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not a checkpoint")
    result = CliRunner().invoke(main, ["run", *FAST, "--resume", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "not a readable checkpoint" in result.output and "Traceback" not in result.output


def test_incompatible_checkpoint_names_the_difference(tmp_path: Path) -> None:
    _, record = run_quickstart(tmp_path, *SMALL, "--set", "output.checkpoint_every=6")
    run_dir = tmp_path / "runs" / record["run_id"]
    result = CliRunner().invoke(main, ["run", *FAST, *SMALL, "--set", "optim.lr=0.5", "--resume", str(run_dir)])
    assert result.exit_code == 2
    assert "incompatible" in result.output and "optim.lr" in result.output


def test_eval_a_bare_checkpoint_rebuilds_its_model_and_matches_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, record = run_quickstart(tmp_path, *SMALL, "--set", "output.checkpoint_every=6", "--set", "output.leaderboard=false")
    checkpoint = tmp_path / "runs" / record["run_id"] / "checkpoints" / "last.safetensors"
    import harness.prepare

    built: list[str] = []  # what eval builds: the model once, and the features of the task it evaluates only
    for name in ("build_model", "build_features"):
        real = getattr(harness.prepare, name)
        monkeypatch.setattr(harness.prepare, name, lambda *a, _real=real, _name=name, **k: built.append(_name) or _real(*a, **k))
    result = invoke("eval", str(checkpoint), "--tasks", "squad")
    assert result.exit_code == 0, result.output
    assert built == ["build_model", "build_features"]
    again = json.loads(Path(result.output.split("record: ")[1].split()[0]).read_text())
    squad = next(t for t in record["tasks"] if t["name"] == "squad")
    assert again["tasks"][0]["metrics"] == squad["metrics"]


def test_a_run_records_training_curves_that_the_leaderboard_stores(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="output.tensorboard needs the tensorboard package")
    db = tmp_path / "lb.db"
    _, record = run_quickstart(tmp_path, *SMALL, "--set", "output.curves_every=2", "--set", "eval.every=3",
                               "--set", "output.tensorboard=true", "--set", f"output.db={db}")
    run_dir = Path(record["config"]["output"]["dir"]) / record["run_id"]
    points = [json.loads(line) for line in (run_dir / "curves.jsonl").read_text().splitlines()]
    loss = {(p["step"], p["task"]) for p in points if p["kind"] == "loss"}
    assert {step for step, _ in loss} == {2, 4, 6} and {task for _, task in loss} <= {"sst2", "squad", "conll2003"}
    evals = {(p["step"], p["task"], p["metric"]) for p in points if p["kind"] == "eval"}
    assert {(3, "sst2", "accuracy"), (6, "sst2", "accuracy"), (6, "squad", "nf1")} <= evals
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))

    from leaderboard.store import connection, stored_curves

    with connection(db) as conn:
        stored = stored_curves(conn, record["run_id"])
    assert {(p.step, p.task) for p in stored if p.kind == "loss"} == loss
    assert {(p.step, p.task, p.metric) for p in stored if p.kind == "eval"} == evals
