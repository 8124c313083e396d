"""Two-process DDP on CPU (gloo) through `accelerate launch`: 2 processes x update_freq 1 must
train like 1 process x update_freq 2 on the same batches (same effective batch, same
per-sentence loss), and write one output folder."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from asrkit.cli import main as asrkit_main
from speech_fixtures import make_manifests, make_utterances

torch.set_num_threads(1)

RECIPE = {
    "model": {"name": "tiny", "freeze_transformer_updates": 1, "mask_time_prob": 0.0, "mask_feature_prob": 0.0,
              "layerdrop": 0.0, "activation_dropout": 0.0},
    # Batches of 2 utterances (~1 s each); an update holds both batches of the 4 utterances.
    "data": {"train_split": "train", "dev_split": "dev", "max_tokens": 40_000, "update_tokens": 80_000,
             "num_workers": 0},
    "train": {"max_updates": 3, "lr": 1e-3, "validate_after_updates": 0, "validate_interval_updates": 3,
              "checkpoint_interval_updates": 2, "log_interval_updates": 1},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_two_processes(argv: list[str]) -> subprocess.CompletedProcess:
    """`accelerate launch` of `python -m asrkit ARGV` as 2 CPU processes (gloo)."""
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "--main_process_port", str(free_port()), "-m", "asrkit", *argv]
    return subprocess.run(launch, env=env, capture_output=True, text=True, timeout=600)


def losses(out: Path) -> list[float]:
    rows = [json.loads(line) for line in (out / "train-log.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if r["kind"] == "train"]


@pytest.mark.slow
def test_two_process_ddp_matches_one_process_with_accumulation(tmp_path):
    utts = make_utterances(tmp_path / "audio")
    manifests = make_manifests(tmp_path, {"train": utts, "dev": utts[:2]})
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    common = ["finetune", "--recipe", str(recipe), "--manifests", str(manifests), "--no-progress"]

    assert asrkit_main([*common, "--out", str(tmp_path / "one")]) == 0

    done = launch_two_processes([*common, "--out", str(tmp_path / "two")])
    assert done.returncode == 0, done.stderr[-3000:]

    two = json.loads((tmp_path / "two" / "train-summary.json").read_text())
    one = json.loads((tmp_path / "one" / "train-summary.json").read_text())
    assert (two["processes"], two["update_freq"]) == (2, 1) and (one["processes"], one["update_freq"]) == (1, 2)
    assert two["audio_seconds"] == pytest.approx(one["audio_seconds"])
    # The same per-sentence loss at every update (it depends on all earlier updates).
    assert losses(tmp_path / "two") == pytest.approx(losses(tmp_path / "one"), rel=1e-4)
    a, b = load_file(str(tmp_path / "one" / "model.safetensors")), load_file(str(tmp_path / "two" / "model.safetensors"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-3, atol=2e-5, msg=key)
    # Both ranks validated their share of the dev split; one result line per validation.
    rows = [json.loads(line) for line in (tmp_path / "two" / "train-log.jsonl").read_text().splitlines()]
    assert [r["utterances"] for r in rows if r["kind"] == "valid"] == [2]
