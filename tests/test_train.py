"""The fine-tuning loop on a few espeak-ng utterances and tiny models: the loss, what trains
when, resume after an interruption, the output folder, and a short memorisation run."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from asrkit.config import recipe_from_dict
from asrkit.errors import TrainError
from asrkit.train import FinetuneOptions, ctc_loss_sum, finetune, setup, train_update, update_stream
from asrkit.data.batching import Position
from speech_fixtures import SENTENCES, make_manifests, make_utterances

torch.set_num_threads(1)  # 2 threads on a busy 2-core machine run ~10x slower than 1

# No masking/dropout/layerdrop: runs are deterministic, so parameters can be compared.
QUIET = {"mask_time_prob": 0.0, "mask_feature_prob": 0.0, "layerdrop": 0.0, "activation_dropout": 0.0}


@pytest.fixture(scope="module")
def manifests(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("speech")
    utts = make_utterances(root / "audio")
    return make_manifests(root, {"train": utts, "dev": utts[:2]})


def recipe(model: dict | None = None, data: dict | None = None, train: dict | None = None):
    return recipe_from_dict({
        "model": {"name": "tiny", "freeze_transformer_updates": 0, **QUIET, **(model or {})},
        "data": {"train_split": "train", "dev_split": "dev", "max_tokens": 40_000, "update_tokens": 40_000,
                 "num_workers": 0, **(data or {})},
        "train": {"max_updates": 4, "lr": 1e-3, "validate_after_updates": 0, "validate_interval_updates": 100,
                  "checkpoint_interval_updates": 100, "log_interval_updates": 1, **(train or {})},
    })


def options(r, out: Path, manifests: Path, **kw) -> FinetuneOptions:
    return FinetuneOptions(recipe=r, out_dir=out, manifests_dir=manifests, progress=False, **kw)


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


# ---------------------------------------------------------------- the loss


def test_ctc_loss_by_hand():
    # One frame, uniform over {blank, A}: P("A") = 0.5, loss = ln 2. A second utterance whose
    # 2-token label cannot fit in 1 frame counts 0 (zero_infinity), not inf.
    logits = torch.zeros(2, 1, 2)
    loss = ctc_loss_sum(logits, torch.tensor([1, 1]), torch.tensor([[1, -100], [1, 1]]), torch.tensor([1, 2]))
    assert loss.item() == pytest.approx(math.log(2))


def test_ctc_loss_is_a_sum_over_utterances_in_fp32():
    torch.manual_seed(0)
    logits = torch.randn(3, 12, 6).bfloat16()
    labels = torch.tensor([[1, 2, 3], [4, -100, -100], [5, 5, -100]])
    frames, lens = torch.tensor([12, 7, 9]), torch.tensor([3, 1, 2])
    each = [F.ctc_loss(logits[b:b + 1, :frames[b]].float().log_softmax(-1).transpose(0, 1),
                       labels[b, :lens[b]][None], frames[b:b + 1], lens[b:b + 1], reduction="sum")
            for b in range(3)]
    total = ctc_loss_sum(logits, frames, labels, lens)
    assert total.dtype == torch.float32
    assert total.item() == pytest.approx(sum(e.item() for e in each), rel=1e-5)


def test_update_gradient_is_the_per_sentence_average(manifests, tmp_path):
    """With 2 accumulation steps the gradient must be sum(CTC) / sentences of the whole update."""
    r = recipe(data={"update_tokens": 80_000}, train={"max_updates": 1})
    run = setup(options(r, tmp_path, manifests))
    assert run.state.update_freq == 2
    _, update, batches = next(update_stream(run, Position()))
    grads = {}
    run.optimizer.step = lambda *a, **k: grads.update(
        {n: p.grad.clone() for n, p in run.model.named_parameters() if p.grad is not None})
    train_update(run, update, batches)
    # The same gradient by hand: every micro-batch's summed CTC, divided by all its sentences.
    run.model.zero_grad(set_to_none=True)
    total = sum(ctc_loss_sum(run.wrapper(b.inputs, b.attention_mask),
                             run.model._get_feat_extract_output_lengths(b.input_lengths), b.labels, b.label_lengths)
                for b in batches)
    (total / sum(b.size for b in batches)).backward()
    assert sum(b.size for b in batches) == 4
    for name, p in run.model.named_parameters():
        if p.grad is not None:
            torch.testing.assert_close(grads[name], p.grad, rtol=1e-4, atol=1e-7)


# ---------------------------------------------------------------- what trains when, resume


def test_frozen_transformer_then_all_but_the_cnn(manifests, tmp_path):
    r = recipe(model={"freeze_transformer_updates": 2}, train={"max_updates": 3})
    out = tmp_path / "run"
    # The same seed gives the same initial weights as the run below.
    initial = {k: v.clone() for k, v in setup(options(r, out, manifests)).model.state_dict().items()}
    assert finetune(options(r, out, manifests, stop_after_updates=2))["status"] == "stopped"
    at2 = {k.removeprefix("model."): v for k, v in weights(out / "checkpoints" / "last").items()}
    finetune(options(r, out, manifests))
    at3 = weights(out)

    def changed(state, part):
        keys = [k for k in initial if part in k]
        assert keys, part
        return any(not torch.equal(initial[k], state[k]) for k in keys)

    assert changed(at2, "lm_head") and not changed(at2, "encoder.layers") and not changed(at2, "feature_extractor")
    assert changed(at3, "encoder.layers") and not changed(at3, "feature_extractor")


def test_resume_gives_the_same_parameters(manifests, tmp_path):
    # Masking, layerdrop and dropout on: resuming must restore the RNG state as well as the
    # optimizer, the schedule and the sampler's position (mid-epoch: 2 updates per epoch).
    noisy = {"mask_time_prob": 0.3, "mask_time_length": 2, "mask_feature_prob": 0.2, "mask_feature_length": 8,
             "layerdrop": 0.2, "activation_dropout": 0.1, "freeze_transformer_updates": 1}
    r = recipe(model=noisy, train={"max_updates": 5})
    whole = finetune(options(r, tmp_path / "whole", manifests))
    assert whole["updates"] == 5 and whole["epochs"] == 2  # 2 updates per epoch, 5th in epoch 2
    stopped = finetune(options(r, tmp_path / "resumed", manifests, stop_after_updates=3))
    assert stopped == {"status": "stopped", "updates": 3}
    resumed = finetune(options(r, tmp_path / "resumed", manifests))
    assert resumed["updates"] == 5
    a, b = weights(tmp_path / "whole" / "checkpoints" / "last"), weights(tmp_path / "resumed" / "checkpoints" / "last")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    log = [json.loads(line) for line in (tmp_path / "resumed" / "train-log.jsonl").read_text().splitlines()]
    assert [row["update"] for row in log if row["kind"] == "train"] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("select_by, kept", [("wer", 2), ("cer", 3)])
def test_the_kept_model_is_the_best_by_the_select_by_metric(manifests, tmp_path, monkeypatch, select_by, kept):
    # Scripted dev results: WER is best at update 2, CER at update 3 (a from-scratch run's
    # WER stays above 100% while its CER falls).
    results = iter([(1.00, 0.90), (0.95, 0.92), (1.20, 0.50)])

    def scripted(run):
        wer, cer = next(results)
        return SimpleNamespace(wer=wer, cer=cer, utterances=2)

    monkeypatch.setattr("asrkit.train.evaluate", scripted)
    r = recipe(train={"max_updates": 3, "validate_after_updates": 1, "validate_interval_updates": 1,
                      "select_by": select_by})
    summary = finetune(options(r, tmp_path, manifests))
    assert summary["best_update"] == kept
    assert summary["best_wer"] == {2: 0.95, 3: 1.20}[kept]


def test_the_starting_checkpoint_is_scored_on_dev_before_fine_tuning(manifests, tmp_path, monkeypatch):
    first = tmp_path / "first"
    finetune(options(recipe(train={"max_updates": 1}), first, manifests))
    rows = [json.loads(line) for line in (first / "train-log.jsonl").read_text().splitlines()]
    assert not [r for r in rows if r.get("start")]  # "tiny": a fresh head, nothing to score

    scores = iter([(0.9, 0.6), (0.8, 0.4)])  # the start, then update 1
    monkeypatch.setattr("asrkit.train.evaluate",
                        lambda run: SimpleNamespace(**dict(zip(("wer", "cer"), next(scores))), utterances=2))
    second = tmp_path / "second"
    summary = finetune(options(recipe(model={"name": str(first)}, train={"max_updates": 1}), second, manifests))
    start = [json.loads(line) for line in (second / "train-log.jsonl").read_text().splitlines()
             if json.loads(line).get("start")]
    assert [(r["update"], r["wer"], r["cer"]) for r in start] == [(0, 0.9, 0.6)]
    assert (summary["start_wer"], summary["start_cer"], summary["best_cer"]) == (0.9, 0.6, 0.4)
    assert summary["best_update"] == 1  # the starting model is never the kept one


@pytest.mark.parametrize("new_head, validate_start, scored", [(True, None, False), (True, True, True),
                                                           (False, False, False)])
def test_validate_start_chooses_whether_the_start_is_scored(manifests, tmp_path, monkeypatch, new_head,
                                                            validate_start, scored):
    first = tmp_path / "first"
    finetune(options(recipe(train={"max_updates": 1}), first, manifests))
    monkeypatch.setattr("asrkit.train.evaluate", lambda run: SimpleNamespace(wer=0.9, cer=0.6, utterances=2))
    second = tmp_path / "second"
    summary = finetune(options(recipe(model={"name": str(first), "new_head": new_head},
                                      train={"max_updates": 1, "validate_start": validate_start}),
                               second, manifests))
    assert (summary["start_cer"] is not None) == scored


def test_rerun_after_the_end_does_nothing_and_another_recipe_is_refused(manifests, tmp_path):
    r = recipe(train={"max_updates": 1})
    first = finetune(options(r, tmp_path, manifests))
    mtime = (tmp_path / "model.safetensors").stat().st_mtime_ns
    assert finetune(options(r, tmp_path, manifests)) == first
    assert (tmp_path / "model.safetensors").stat().st_mtime_ns == mtime
    with pytest.raises(TrainError, match=r"train.lr: 0.001 -> 0.002"):
        finetune(options(recipe(train={"max_updates": 1, "lr": 2e-3}), tmp_path, manifests))
    assert finetune(options(recipe(train={"max_updates": 1, "lr": 2e-3}), tmp_path, manifests,
                            restart=True))["status"] == "done"


def test_output_folder_layout(manifests, tmp_path):
    summary = finetune(options(recipe(train={"max_updates": 2, "validate_interval_updates": 1}), tmp_path, manifests))
    for name in ("config.json", "model.safetensors", "processor_config.json", "vocab.json", "recipe.yaml",
                 "train-log.jsonl", "train-summary.json", "checkpoints/last/trainer_state.json",
                 "checkpoints/best/model.safetensors"):
        assert (tmp_path / name).is_file(), name
    assert not list(tmp_path.rglob("*.tmp"))
    rows = [json.loads(line) for line in (tmp_path / "train-log.jsonl").read_text().splitlines()]
    kinds = [r["kind"] for r in rows]
    assert kinds == ["start", "train", "valid", "train", "valid"]
    assert {"loss", "loss_per_char", "lr", "audio_s_per_s"} <= rows[1].keys()
    assert {"wer", "cer", "split"} <= rows[2].keys() and rows[2]["split"] == "dev"
    assert summary["best_update"] in (1, 2) and summary["dev_split"] == "dev"
    # The kept model is the best one by dev WER.
    assert weights(tmp_path).keys() == weights(tmp_path / "checkpoints" / "best").keys()
    recipe_text = (tmp_path / "recipe.yaml").read_text()
    assert "update_freq: 1" in recipe_text and "max_updates: 2" in recipe_text
    # transformers' ASR pipeline loads the folder as it is (model + processor); a base-style
    # model gets attention masks, as fairseq gives it padding masks (model.attention_mask).
    from transformers import pipeline

    asr = pipeline("automatic-speech-recognition", model=str(tmp_path), device="cpu")
    assert asr.feature_extractor.return_attention_mask is True
    assert isinstance(asr(np.zeros(16_000, np.float32))["text"], str)


def test_labels_too_long_for_their_frames_are_left_out(tmp_path, caplog):
    utts = make_utterances(tmp_path / "audio", ["HELLO", "AND"])
    # "AND" said in ~0.3 s but labelled with 40 letters: more tokens than 20 ms frames.
    utts[1] = type(utts[1])(**{**utts[1].__dict__, "text": "A" * 20 + " " + "B" * 20})
    man = make_manifests(tmp_path, {"train": utts, "dev": utts[:1]})
    r = recipe(train={"max_updates": 1})
    with caplog.at_level("WARNING"):
        run = setup(options(r, tmp_path / "out", man))
    assert len(run.train_set) == 1 and "left out 1 training utterance(s): label longer than its frames" in caplog.text


def test_splits_join_with_a_plus(manifests):
    from asrkit.train import read_split

    assert len(read_split(manifests, "train+dev")) == 4 + 2
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        read_split(manifests, "train+nope")


def test_missing_dev_manifest_is_a_clear_error(manifests, tmp_path):
    with pytest.raises(FileNotFoundError, match="`dev_split` to none"):
        finetune(options(recipe(data={"dev_split": "dev-other"}), tmp_path, manifests))


# ---------------------------------------------------------------- learning


@pytest.mark.slow
def test_short_finetune_memorises_the_training_speech(manifests, tmp_path):
    """The loss falls and greedy CER on the training utterances drops below 0.4; the output
    folder runs in transformers' ASR pipeline."""
    from transformers import pipeline

    from asrkit.audio import load_audio
    from asrkit.data.manifest import read_manifest
    from asrkit.score import score
    from asrkit.results import Recog

    r = recipe(model={"name": "tiny-w2v-bert"},
               data={"max_tokens": 160_000, "update_tokens": 160_000, "dev_split": "train"},
               train={"max_updates": 70, "lr": 2e-3, "phase_ratio": [0.1, 0.8, 0.1], "log_interval_updates": 10,
                      "validate_after_updates": 70})
    summary = finetune(options(r, tmp_path, manifests))
    rows = [json.loads(line) for line in (tmp_path / "train-log.jsonl").read_text().splitlines()]
    losses = [row["loss"] for row in rows if row["kind"] == "train"]
    assert losses[-1] < losses[0] / 4, losses
    asr = pipeline("automatic-speech-recognition", model=str(tmp_path), device="cpu")
    utts = read_manifest(manifests / "train.jsonl")
    recogs = [Recog(u.id, u.speaker, u.duration, u.text, asr(load_audio(u.audio))["text"]) for u in utts]
    cer = score(recogs).cer
    # An untrained model scores about 1.0. The same 70 updates end at 0.2553 on another CPU
    # (other float summation order), so the bound leaves room for other machines' arithmetic.
    assert cer < 0.4, [(x.ref, x.hyp) for x in recogs]
    # The pipeline reads the same model the loop validated with: same error rate on this data.
    assert summary["best_wer"] == pytest.approx(score(recogs).wer)
    assert sorted(u.text for u in utts) == sorted(SENTENCES)


@pytest.mark.slow
def test_the_same_command_continues_after_a_kill(manifests, tmp_path):
    """SIGKILL a running `asrkit finetune` after its first checkpoint; the same command then
    resumes from that checkpoint (not from 0) and finishes, logging each update once."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from asrkit.config import dump_recipe

    path = tmp_path / "recipe.yaml"
    path.write_text(dump_recipe(recipe(train={"max_updates": 60, "checkpoint_interval_updates": 2,
                                              "log_interval_updates": 2, "validate_interval_updates": 1000})))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "asrkit", "finetune", "--recipe", str(path), "--manifests", str(manifests),
               "--out", str(out), "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = out / "checkpoints" / "last" / "trainer_state.json"
    deadline = time.time() + 180
    while not state.is_file() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = json.loads(state.read_text())["update"]
    assert 2 <= killed_at < 60 and not (out / "train-summary.json").exists()

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"resumed from {out / 'checkpoints' / 'last'} at update {killed_at}" in again.stderr
    assert json.loads((out / "train-summary.json").read_text())["updates"] == 60
    rows = [json.loads(line) for line in (out / "train-log.jsonl").read_text().splitlines()]
    assert [row["update"] for row in rows if row["kind"] == "train"] == list(range(2, 61, 2))


def test_finetune_prints_the_best_by_the_select_by_metric_and_the_start():
    from asrkit.cli.finetune import _dev_result

    summary = {"best_wer": 0.9145, "best_cer": 0.5022, "best_update": 200, "start_wer": 1.0, "start_cer": 1.5371}
    assert _dev_result(summary, recipe(data={"dev_split": "dev-other"}, train={"select_by": "cer"})) == (
        ", best dev-other CER 50.22% (WER 91.45%) at update 200, from CER 153.71% at the start")
    assert _dev_result({**summary, "start_cer": None, "start_wer": None}, recipe()) == (
        ", best dev WER 91.45% (CER 50.22%) at update 200")
    assert _dev_result({"best_wer": None}, recipe()) == ""


def validated_updates(train: dict, updates_per_epoch: int) -> list[int]:
    """The updates at which the loop validates, for epochs of a fixed number of updates."""
    from asrkit.config import TrainConfig
    from asrkit.train import validation_due

    cfg = TrainConfig(**train)
    return [u for u in range(1, cfg.max_updates + 1)
            if validation_due(cfg, u, u // updates_per_epoch if u % updates_per_epoch == 0 else None)]


def test_validation_follows_fairseqs_rule():
    # base_1h: save_interval_updates 1000, validate_interval 1000 epochs, after 10k updates;
    # 3 updates per epoch: mid-epoch saves at 10k, 11k and 13k (the last update), and 12k
    # ends epoch 4,000, a multiple of 1,000.
    base_1h = dict(max_updates=13_000, validate_after_updates=10_000, validate_interval_updates=0,
                   validate_interval_epochs=1_000, save_interval_updates=1_000)
    assert validated_updates(base_1h, 3) == [10_000, 11_000, 12_000, 13_000]
    # vox_1h: saves every 50 updates; fairseq skips those that end an epoch (not a 1,000th one).
    vox_1h = dict(base_1h, save_interval_updates=50)
    got = validated_updates(vox_1h, 3)
    assert got[:4] == [10_000, 10_100, 10_150, 10_250] and 10_050 not in got and got[-1] == 13_000
    # base_10m: one update per epoch, so every update ends one: only every 1,000th epoch.
    assert validated_updates(dict(base_1h, save_interval_updates=50), 1) == [10_000, 11_000, 12_000, 13_000]
    # base_100h: every epoch from the start, nothing else.
    base_100h = dict(max_updates=1_000, validate_after_updates=0, validate_interval_updates=0,
                     validate_interval_epochs=1)
    assert validated_updates(base_100h, 230) == [230, 460, 690, 920, 1_000]


def adam_after_freezing(fairseq_style: bool, frozen_steps: int = 1_000) -> tuple[float, object]:
    """How far a parameter moves on its first gradient after `frozen_steps` updates without one."""
    from asrkit.train import zero_missing_grads

    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.AdamW([a, b], lr=0.1, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.0)
    for _ in range(frozen_steps):
        a.grad, b.grad = torch.ones(3), None
        if fairseq_style:
            zero_missing_grads(opt)
        opt.step()
    assert torch.equal(b.detach(), torch.ones(3))  # a zero gradient does not move it either
    a.grad, b.grad = torch.ones(3), torch.ones(3)
    opt.step()
    return float(1 - b.detach().mean()), opt.state[b]["step"]


def test_fairseq_adam_steps_every_parameter_with_one_step_count():
    # torch: the late parameter's first step is bias-corrected, a full lr.
    moved, step = adam_after_freezing(fairseq_style=False)
    assert moved == pytest.approx(0.1, rel=1e-4) and step == 1
    # fairseq: it shares the step count (1,001), so no correction: lr x 0.1 / sqrt(0.02).
    moved, step = adam_after_freezing(fairseq_style=True)
    assert moved == pytest.approx(0.1 * 0.1 / 0.02 ** 0.5, rel=1e-3) and step == 1_001
