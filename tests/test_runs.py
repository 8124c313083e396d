"""asrkit.runs, the machinery both training loops share: the data stream's order and draw
keys, and `restart`, which never costs the previous run before the new one checkpoints."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from asrkit import runs
from asrkit.config import dump_recipe, recipe_from_dict
from asrkit.data.batching import Position, UpdatePlanner
from asrkit.data.manifest import Utterance, write_manifest
from asrkit.errors import InputNotFound

LENGTHS = [16_000, 24_000, 8_000, 32_000, 12_000, 20_000, 28_000, 16_000, 9_000, 30_000, 11_000]


def planner(world: int = 2, freq: int = 2) -> UpdatePlanner:
    return UpdatePlanner(LENGTHS, 40_000, world, freq, seed=3)


def keyed(mb, key):
    """A 'batch' that shows what it was made from (module level: DataLoader workers pickle it)."""
    return mb.indices, key


def take(stream, n: int) -> list:
    return [next(stream) for _ in range(n)]


def stream(p, rank=0, world=2, start=Position(), workers=0, by_epoch=True):
    return runs.update_stream(p, rank, world, start, keyed, workers, seed_workers_by_epoch=by_epoch)


@pytest.mark.parametrize("rank", [0, 1])
def test_each_batch_is_keyed_by_epoch_update_and_its_place_in_the_update(rank):
    p = planner()
    per_epoch = p.updates_per_epoch()
    assert per_epoch >= 2
    for n, (after, update, batches) in enumerate(take(stream(p, rank), 2 * per_epoch)):
        epoch, i = divmod(n, per_epoch)
        assert update == p.epoch(epoch)[i]
        assert after == (Position(epoch, i + 1) if i + 1 < per_epoch else Position(epoch + 1, 0))
        # Batch j of this rank is batch j * world + rank of the update, as one process accumulating would see it.
        assert batches == [(mb.indices, (epoch, i, j * 2 + rank)) for j, mb in enumerate(update[rank])]


def test_a_stream_started_mid_epoch_makes_the_batches_the_whole_stream_makes():
    p = planner()
    whole = take(stream(p), 2 * p.updates_per_epoch())
    k = p.updates_per_epoch() - 1
    assert take(stream(p, start=Position(0, k)), len(whole) - k) == whole[k:]


@pytest.mark.parametrize("by_epoch", [True, False])
def test_workers_make_the_same_batches_and_leave_the_global_rng_alone_when_seeded_by_epoch(by_epoch):
    p = planner()
    inline = take(stream(p), 3)
    state = torch.get_rng_state()
    assert take(stream(p, workers=1, by_epoch=by_epoch), 3) == inline
    # Fine-tuning seeds workers by epoch; pre-training's DataLoader draws its seed from torch's RNG.
    assert torch.equal(torch.get_rng_state(), state) == by_epoch


def test_pre_training_draws_are_keyed_by_seed_epoch_update_and_place():
    from asrkit.data.batching import MicroBatch
    from asrkit.pretrain.loop import _Crop

    calls = []
    crop = _Crop(lambda indices, key, weight: calls.append((indices, key, weight)), seed=17)
    crop(MicroBatch((4, 2), 0.0), (3, 5, 1))
    assert calls == [((4, 2), (17, 3, 5, 1), 0.0)]  # a checkpointed run resumes on these very draws


# ---------------------------------------------------------------- restart


class FakeAccelerator:
    is_main_process = True

    def wait_for_everyone(self):
        pass


def write_run(opts) -> dict[str, str]:
    """A run's files (as a loop leaves them) and the model beside them; returns their texts."""
    out = opts.out_dir
    files = {"checkpoints/last/trainer_state.json": '{"update": 2}', "recipe.yaml": dump_recipe(opts.recipe, "#"),
             "train-log.jsonl": '{"kind": "start", "update": 0}\n', "snapshots/update-1/config.json": "{}",
             "train-summary.json": '{"status": "done"}', "model.safetensors": "the old model"}
    for name, text in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    return files


def texts(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): p.read_text() for p in sorted(out.rglob("*")) if p.is_file()}


def options(tmp_path: Path, train_split="train", restart=True):
    manifests = tmp_path / "manifests"
    utt = Utterance("1-2-3", "/audio/1-2-3.flac", 16_000, 16_000, "1", "2", "A")
    write_manifest(manifests / "train.jsonl", [utt])
    recipe = recipe_from_dict({"data": {"train_split": train_split, "dev_split": runs.NO_DEV}})
    return SimpleNamespace(out_dir=tmp_path / "run", manifests_dir=manifests, restart=restart, recipe=recipe)


def test_a_restart_with_a_split_that_does_not_exist_moves_nothing(tmp_path):
    opts = options(tmp_path, train_split="trian")
    before = write_run(opts)
    with pytest.raises(InputNotFound, match="trian"):
        runs.open_folder(opts, FakeAccelerator())
    assert texts(opts.out_dir) == before


def test_a_restart_whose_set_up_fails_puts_the_old_run_back(tmp_path):
    opts = options(tmp_path)
    before = write_run(opts)
    assert runs.open_folder(opts, FakeAccelerator()) is None  # a new run: the old one is aside
    assert texts(opts.out_dir / runs.PREVIOUS) == before  # the old model too: it is no model of the new run

    def failing(options, accelerator):
        raise OSError("the model does not load")

    with pytest.raises(OSError, match="does not load"):
        runs.set_up_or_restore(failing, opts, FakeAccelerator())
    assert texts(opts.out_dir) == before


def test_a_restart_stopped_before_its_first_checkpoint_leaves_the_old_run_as_the_run(tmp_path):
    opts = options(tmp_path)
    before = write_run(opts)
    runs.open_folder(opts, FakeAccelerator())
    (opts.out_dir / "train-log.jsonl").write_text('{"kind": "start", "update": 0}\n')  # the new run's start
    again = options(tmp_path, restart=False)
    assert runs.open_folder(again, FakeAccelerator()) == opts.out_dir / "checkpoints" / "last"
    assert texts(opts.out_dir) == before


def test_the_set_aside_run_goes_at_the_new_runs_first_checkpoint(tmp_path):
    opts = options(tmp_path)
    write_run(opts)
    runs.open_folder(opts, FakeAccelerator())
    assert (opts.out_dir / runs.PREVIOUS).is_dir()
    run = SimpleNamespace(accelerator=SimpleNamespace(wait_for_everyone=lambda: None, save_state=lambda path: None),
                          main=True, out_dir=opts.out_dir, state=Position(0, 1))
    runs.save_checkpoint(run)
    assert not (opts.out_dir / runs.PREVIOUS).exists()
    assert (opts.out_dir / "checkpoints" / "last" / "trainer_state.json").is_file()


# ---------------------------------------------------------------- restart, as pre-training uses it


RUN = ("train-summary.json", "recipe.yaml", "train-log.jsonl", "model.safetensors", "checkpoints/last/trainer_state.json")


def pretraining(tmp_path: Path, **data):
    from asrkit.config import PretrainRecipe
    from asrkit.pretrain import PretrainOptions
    from speech_fixtures import make_manifests, noise_utterances

    manifests = tmp_path / "manifests"
    if not manifests.is_dir():
        make_manifests(tmp_path, {"train": noise_utterances(tmp_path / "audio", [1.0, 1.2, 0.8, 1.1])})
    recipe = recipe_from_dict({
        "model": {"name": "tiny", "num_negatives": 5, "mask_time_length": 3},
        "data": {"train_split": "train", "dev_split": "none", "max_tokens": 80_000, "update_tokens": 80_000,
                 "max_sample_size": 40_000,
                 "min_sample_size": 8_000, "num_workers": 0, **data},
        "train": {"max_updates": 1, "warmup_updates": 1}}, kind=PretrainRecipe)
    return lambda **kw: PretrainOptions(recipe, tmp_path / "run", manifests, progress=False, **kw)


def test_a_pre_training_restart_keeps_the_old_run_until_the_new_one_checkpoints(tmp_path, monkeypatch,
                                                                                one_torch_thread):
    from asrkit.errors import DataError
    from asrkit.pretrain import loop

    options = pretraining(tmp_path)
    summary = loop.pretrain(options())
    out = tmp_path / "run"
    before = {name: (out / name).read_bytes() for name in RUN}

    def unchanged() -> bool:
        return {name: (out / name).read_bytes() for name in RUN} == before and not (out / runs.PREVIOUS).exists()

    with pytest.raises(InputNotFound):  # a typo in a split name: checked before anything moves
        loop.pretrain(pretraining(tmp_path, dev_split="dev-typo")(restart=True))
    assert unchanged()
    with pytest.raises(DataError):  # found only when the audio is read, after the old run went aside
        loop.pretrain(pretraining(tmp_path, min_sample_size=30_000)(restart=True))
    assert unchanged()

    def killed(run):
        raise KeyboardInterrupt  # as if stopped before the first checkpoint

    monkeypatch.setattr(loop, "train_loop", killed)
    with pytest.raises(KeyboardInterrupt):
        loop.pretrain(options(restart=True))
    assert (out / runs.PREVIOUS / "train-summary.json").read_bytes() == before["train-summary.json"]
    monkeypatch.undo()
    assert loop.pretrain(options()) == summary and unchanged()  # the set-aside run is the run again


def test_a_restart_killed_after_its_first_checkpoint_leaves_no_old_model_beside_the_new_run(tmp_path,
                                                                                             one_torch_thread):
    """The old model, decode results and card go with the old run: `finetune --model OUT` and
    the report must not take the old model for the new run's."""
    from asrkit.pretrain import loop

    options = pretraining(tmp_path)
    loop.pretrain(options())
    out = tmp_path / "run"
    (out / "decode" / "dev" / "greedy").mkdir(parents=True)
    (out / "decode" / "dev" / "greedy" / "wer-summary.json").write_text("{}")
    assert loop.pretrain(options(restart=True, stop_after_updates=1))["status"] == "stopped"
    assert (out / "checkpoints" / "last" / "trainer_state.json").is_file()
    assert not (out / runs.PREVIOUS).exists()
    left = {p.name for p in out.iterdir()}
    assert not left & {"model.safetensors", "config.json", "train-summary.json", "decode"}, left
