"""``mnist-keras robustness``: the suite end to end on the session's tiny model (.keras and .tflite), bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from mnist_keras import robustness
from mnist_keras.cli import cli
from mnist_keras.errors import MnistKerasError

FEW = "shot_noise,inverted,small_in_photo,printed_heldout"
REPORT_FILES = ("robustness.json", "robustness.txt", "robustness.md", "robustness.png", "examples.png")


def invoke(*args) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["robustness", *map(str, args)])
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.output


def check_rows(summary: dict, names: list[str], per_condition: int) -> None:
    rows = summary["conditions"]
    assert [r["name"] for r in rows] == names
    for row in rows:
        assert row["n"] == per_condition and row["correct"] + row["errors"] == per_condition
        assert 0 <= row["unreadable"] <= row["errors"]
        assert row["accuracy"] == pytest.approx(row["correct"] / per_condition)
    suite = [r["accuracy"] for r in rows if r["group"] != "clean"]
    assert summary["suite_mean_accuracy"] == pytest.approx(np.mean(suite))
    assert summary["clean_accuracy"] == rows[0]["accuracy"]


def test_cli_runs_a_small_suite_on_a_run_folder(trained_run, data_dir, tmp_path):
    out = tmp_path / "report"
    code, output = invoke(trained_run, "--per-condition", 12, "--conditions", FEW, "--seed", 3,
                          "--data-dir", data_dir, "--output", out)  # fmt: skip
    assert code == 0, output
    assert "[ 1/5] clean" in output and "mean over the suite" in output
    for name in REPORT_FILES:
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "robustness.json").read_text())
    check_rows(summary, ["clean", "shot_noise", "inverted", "small_in_photo", "printed_heldout"], 12)
    assert summary["model_name"] == "lamontagne" and summary["model_kind"] == "keras" and summary["seed"] == 3
    assert set(summary["conditions"][-1]["by_font"]) <= set(summary["fonts"]["held_out"])
    raw = {r["name"]: r["raw_accuracy"] for r in summary["conditions"]}
    assert raw["small_in_photo"] is None and raw["printed_heldout"] is None  # not 28x28: no raw score
    assert 0 <= raw["shot_noise"] <= 1 and raw["inverted"] < 0.5  # inverted digits need preprocessing
    assert "| `small_in_photo` |" in (out / "robustness.md").read_text()


def test_every_condition_runs_on_a_tflite_model_and_is_deterministic(tflite_models, data_dir, tmp_path):
    def run(folder):
        return robustness.run_robustness(
            tflite_models["int8"], per_condition=3, seed=5, data_dir=data_dir, output_dir=tmp_path / folder
        )

    lines = []
    first = robustness.run_robustness(tflite_models["int8"], per_condition=3, seed=5, data_dir=data_dir,
                                      output_dir=tmp_path / "a", progress=lines.append)  # fmt: skip
    names = list(robustness.conditions())
    check_rows(first, names, 3)
    assert first["model_kind"] == "tflite" and len(lines) == len(names) + 1
    assert first["suite_conditions"] == len(names) - 1 >= 15 + 6 + 2
    assert set(first["group_mean_accuracy"]) == {"mnist-c", "real-input", "printed"}
    again = run("b")

    def strip(summary):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in summary["conditions"]]

    assert strip(again) == strip(first)


def test_a_condition_sees_the_same_images_whatever_else_runs(mnist):
    images, labels = robustness.sample_digits(mnist.x_test, mnist.y_test, 5, seed=1)
    alone = robustness.condition_inputs("fog", images, labels, robustness.condition_rng(1, "fog"))[0]
    robustness.condition_inputs("shot_noise", images, labels, robustness.condition_rng(1, "shot_noise"))
    again = robustness.condition_inputs("fog", images, labels, robustness.condition_rng(1, "fog"))[0]
    assert all(np.array_equal(a, b) for a, b in zip(alone, again))
    assert robustness.parse_conditions("printed,fog") == ["clean", "fog", "printed"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--conditions", "snow,fog"], 2, "unknown condition 'snow'; known: clean, shot_noise"),
        (["--conditions", " , "], 2, "no condition given"),
        (["--per-condition", "0"], 2, "--per-condition must be between 1 and 10,000, got 0"),
        (["--per-condition", "10001"], 2, "--per-condition must be between 1 and 10,000"),
        (["--seed", "-1"], 2, "--seed must be 0 or more"),
    ],
)
def test_bad_options_are_one_line_errors(args, code, message, tmp_path):
    exit_code, output = invoke(tmp_path / "model.keras", *args)
    assert exit_code == code and message in output and output.startswith("Error:")
    assert len(output.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["missing.keras", "missing.tflite", "run_folder_without_model", "notes.txt"])
def test_missing_or_wrong_model_is_a_one_line_error(name, tmp_path, monkeypatch):
    (tmp_path / "run_folder_without_model").mkdir()
    (tmp_path / "notes.txt").write_text("not a model")
    monkeypatch.chdir(tmp_path)  # the default output folder would be ./robustness/<name>/
    code, output = invoke(tmp_path / name, "--per-condition", 2, "--conditions", "fog")
    assert code == 2 and output.startswith("Error:") and len(output.strip().splitlines()) == 1, output
    assert not (tmp_path / "robustness").exists()  # nothing is written for a model that does not load


@pytest.mark.parametrize(("where", "message"), [("taken", "is not a folder"), ("taken/report", "cannot create")])
def test_output_that_cannot_be_a_folder_is_refused(where, message, trained_run, tmp_path):
    (tmp_path / "taken").write_text("x")
    code, output = invoke(trained_run, "--output", tmp_path / where, "--conditions", "fog")
    assert code == 2 and message in output and len(output.strip().splitlines()) == 1, output


def test_cli_defaults_are_the_module_defaults():
    params = {p.name: p.default for p in cli.commands["robustness"].params}
    assert params["per_condition"] == robustness.DEFAULT_PER_CONDITION
    assert params["seed"] == robustness.DEFAULT_SEED


def test_parse_conditions_rejects_unknown_names():
    with pytest.raises(MnistKerasError, match="unknown condition"):
        robustness.parse_conditions(["Fog"])


def test_conditions_the_training_augmentation_imitates_are_marked_seen():
    from mnist_keras.augment import IMITATED_CONDITIONS
    from mnist_keras.robustness import conditions, seen_in_training

    robust = seen_in_training({"augment": "robust", "printed_fraction": 0.1})
    assert {"shot_noise", "canny_edges", "dotted_line", "zigzag", "printed"} <= set(robust)
    assert not {"printed_heldout", "fog", "spatter", "stripe", "clean"} & set(robust)
    assert seen_in_training({"augment": "none", "printed_fraction": 0.0}) == []
    assert seen_in_training(None) is None  # unknown training: no split, rather than a wrong one
    known = set(conditions())
    for policy, names in IMITATED_CONDITIONS.items():
        assert set(names) <= known, policy  # every imitated condition is one of the suite's


def test_the_training_recipe_is_found_from_a_tflite_export_back_to_its_run(tmp_path):
    import json

    from mnist_keras.robustness import training_recipe

    recipe = {"augment": "robust", "printed_fraction": 0.1}
    (tmp_path / "runs" / "r1").mkdir(parents=True)
    (tmp_path / "runs" / "r1" / "config.json").write_text(json.dumps({"settings": {"recipe": recipe}}))
    (tmp_path / "saved_models").mkdir()
    (tmp_path / "saved_models" / "m.keras").write_bytes(b"model")
    (tmp_path / "saved_models" / "m.json").write_text(json.dumps({"run_dir": "runs/r1", "val_accuracy": 0.9}))
    (tmp_path / "tflite").mkdir()
    (tmp_path / "tflite" / "m_int8.tflite").write_bytes(b"model")
    (tmp_path / "tflite" / "m.json").write_text(
        json.dumps({"source_model": str(tmp_path / "saved_models" / "m.keras")})
    )
    assert training_recipe(tmp_path / "runs" / "r1" / "model.keras") == recipe  # a run folder's model
    assert training_recipe(tmp_path / "saved_models" / "m.keras") == recipe  # published: its record's run
    assert training_recipe(tmp_path / "tflite" / "m_int8.tflite") == recipe  # exported: its source model
    assert training_recipe(tmp_path / "tflite" / "other_int8.tflite") is None


def test_the_report_gives_the_unseen_mean_beside_the_suite_mean():
    from mnist_keras.robustness import format_markdown, format_table

    rows = [
        {"name": "clean", "group": "clean", "description": "", "accuracy": 1.0, "errors": 0, "unreadable": 0,
         "raw_accuracy": 1.0, "seen_in_training": False},
        {"name": "fog", "group": "mnist-c", "description": "", "accuracy": 0.5, "errors": 5, "unreadable": 0,
         "raw_accuracy": None, "seen_in_training": False},
        {"name": "zigzag", "group": "mnist-c", "description": "", "accuracy": 0.9, "errors": 1, "unreadable": 0,
         "raw_accuracy": None, "seen_in_training": True},
    ]  # fmt: skip
    summary = {"model_name": "m", "model_kind": "keras", "per_condition": 10, "seed": 42, "conditions": rows,
               "clean_accuracy": 1.0, "suite_mean_accuracy": 0.7, "suite_conditions": 2,
               "group_mean_accuracy": {"mnist-c": 0.7}, "seen_conditions": ["zigzag"],
               "seen_mean_accuracy": 0.9, "unseen_mean_accuracy": 0.5, "fonts": {"skipped": []}}  # fmt: skip
    text, markdown = format_table(summary), format_markdown(summary)
    assert "mean over unseen      50.00% (out of distribution)" in text and "zigzag" in text
    assert "| **mean over unseen conditions** | | out of distribution | **50.00%** |" in markdown
    assert "| `zigzag` | mnist-c |  | 90.00% | 1 | 0 | - | seen |" in markdown
