"""benchmarks/pretrain_screens.py: combining screens into the winners' long run, which seeds
a screen needs, and results.json shared by two runners."""

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import jiwer
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "pretrain_screens.py"


@pytest.fixture(scope="module")
def screens():
    spec = importlib.util.spec_from_file_location("pretrain_screens", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["pretrain_screens"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_combine_takes_every_change_of_the_named_screens(screens):
    combo = screens.combine(["codebook-2x64", "deep-narrow", "with-10min"], 8000)
    assert combo.name == "codebook-2x64+deep-narrow+with-10min@8000"
    assert set(combo.sets) == {"model.codevectors_per_group=64", "model.name=tiny-deep"}
    assert combo.with_labelled_audio and combo.corpus == "pretrain" and combo.updates == 8000
    assert screens.combine(["wide-voices", "audio-x2"], screens.SCREENS_UPDATES).name == "wide-voices+audio-x2"
    assert screens.combine(["wide-voices", "audio-x2"], 4000).corpus == "wide"


def test_combine_refuses_two_screens_that_set_one_key_differently(screens, monkeypatch):
    clash = screens.Screen("bigger-codebook", "2 x 128", sets=("model.codevectors_per_group=128",))
    monkeypatch.setattr(screens, "SCREENS", (*screens.SCREENS, clash))
    with pytest.raises(SystemExit, match="codevectors_per_group"):
        screens.combine(["codebook-2x64", "bigger-codebook"], 8000)


def test_the_schedule_follows_the_combination_not_the_command_line(screens):
    combo = screens.combine(["codebook-2x64"], 8000)
    sets = dict(item.split("=", 1) for item in screens.scaled_schedule(combo.updates))
    assert sets["train.max_updates"] == "8000" and sets["train.warmup_updates"] == "500"


def test_seeds_needed(screens):
    results = {"baseline": {"cer": {"1": 66.0, "2": 66.2}}, "near": {"cer": {"1": 65.0}},
               "far": {"cer": {"1": 60.0}}, "combo": {"cer": {}, "combines": ["a", "b"], "updates": 8000}}
    assert screens.seeds_needed(results, "baseline", 2.0) == [1, 2]
    assert screens.seeds_needed(results, "new", 2.0) == [1]
    assert screens.seeds_needed(results, "near", 2.0) == [1, 2]  # within 2 points: a second seed decides
    assert screens.seeds_needed(results, "far", 2.0) == [1]
    assert screens.seeds_needed(results, "combo", 2.0) == [1, 2]  # the long run always gets two


def test_two_runners_keep_each_others_results(screens, tmp_path):
    screens.write_results(tmp_path, {"baseline": {"cer": {"1": 66.0}}})
    first = screens.read_results(tmp_path)["baseline"]  # runner A reads ...
    screens.save_entry(tmp_path, "audio-x2", {"cer": {"1": 63.0}})  # ... runner B saves its screen ...
    first["cer"]["2"] = 66.2
    merged = screens.save_entry(tmp_path, "baseline", first)  # ... and A saves without losing B's
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk == merged == {"baseline": {"cer": {"1": 66.0, "2": 66.2}}, "audio-x2": {"cer": {"1": 63.0}}}


def test_a_combination_in_results_gets_its_row_with_its_own_updates(screens, tmp_path):
    combo = screens.combine(["codebook-2x64", "deep-narrow"], 8000)
    screens.save_entry(tmp_path, combo.name, {"cer": {}, "combines": list(combo.combines), "updates": 8000})
    assert screens.all_screens(tmp_path)[-1] == combo
    row = next(line for line in screens.table(tmp_path, 2000).splitlines() if line.startswith(f"| {combo.name} "))
    assert "0/8000 (running or queued)" in row


def test_heldout_cer_decodes_the_kept_model_on_test_other(screens, model_dir, synth_corpus, tmp_path,
                                                           one_torch_thread):
    from asrkit.data.prepare import PrepareOptions, prepare

    root, _ = synth_corpus
    prepare(PrepareOptions(data_root=root, out_dir=tmp_path / "manifests", splits=("test-other",), progress=False))
    run = tmp_path / "finetune-seed1"
    shutil.copytree(model_dir, run)
    assert screens.heldout_cer(run, tmp_path / "manifests") is None  # not a finished run
    (run / "train-summary.json").write_text("{}")
    cer = screens.heldout_cer(run, tmp_path / "manifests")
    recogs = [json.loads(line) for line in (run / "decode" / "test-other" / "greedy" / "recogs.jsonl").open()]
    refs, hyps = [r["ref"] for r in recogs], [r["hyp"] for r in recogs]
    assert cer == pytest.approx(100 * jiwer.cer(refs, hyps), abs=1e-6)


def test_the_table_shows_held_out_cer_against_the_baseline(screens, tmp_path):
    screens.write_results(tmp_path, {"baseline": {"cer": {"1": 66.0, "2": 64.0}, "test_other": {"1": 70.0, "2": 68.0}},
                                     "codebook-2x64": {"cer": {"1": 63.0}, "test_other": {"1": 66.5}}})
    row = next(line for line in screens.table(tmp_path, 2000).splitlines() if line.startswith("| codebook-2x64 "))
    assert row.rstrip(" |").endswith("63.0 | -2.0 | 66.5 | -2.5")


def test_a_difference_that_rounds_to_zero_has_no_minus_sign(screens):
    assert screens._fmt(-0.04, "+.1f") == "+0.0" and screens._fmt(-0.06, "+.1f") == "-0.1"
    assert screens._fmt(None, ".3f") == "-" and screens._fmt(0.18040, ".3f") == "0.180"
