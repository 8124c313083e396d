"""Shared pytest fixtures. Each group is marked by its owner's section heading."""

from __future__ import annotations

from pathlib import Path

import pytest


# ----------------------------------------------------------------------------- workspace
# The checkout's work/ belongs to the user (`asrkit demo` fills it): no test may read or
# write it. Every test sees an empty workspace of the session's own, set before any
# fixture runs; a test that needs its own folder sets ASRKIT_WORK itself.


@pytest.fixture(scope="session", autouse=True)
def isolated_workspace(tmp_path_factory):
    path = tmp_path_factory.mktemp("workspace") / "work"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ASRKIT_WORK", str(path))
        yield path


# ----------------------------------------------------------------------------- TTS corpus
# A tiny corpus made once per test session by `asrkit synth`: all four dev/test splits
# (one speaker each) and the 10min fold (1h/0/clean and other, two speakers each), about
# 50 s of audio in 2-utterance chapters. Treat it as read-only: copy it to change it.

TINY_SYNTH = dict(fold_minutes=0.4, dev_minutes=0.1, test_minutes=0.1, speaker_minutes=0.1,
                  chapter_utterances=2, seed=7, jobs=2)


def tiny_synth_options(root: Path, **changes):
    """SynthOptions for a few-second corpus under `root`; keyword arguments override."""
    from asrkit.data.synth import SynthOptions

    return SynthOptions(root=Path(root), **{**TINY_SYNTH, **changes})


@pytest.fixture(scope="session")
def synth_corpus(tmp_path_factory) -> tuple[Path, dict]:
    """(root, synth report) of the tiny synthesised corpus; read-only."""
    from asrkit.data.synth import synthesize

    root = tmp_path_factory.mktemp("synth") / "corpus"
    report = synthesize(tiny_synth_options(root), progress=False)
    return root, report


@pytest.fixture
def one_torch_thread():
    """Tests that run a model use one torch thread: the machine's cores are shared."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny random-init Wav2Vec2ForCTC saved with its processor (tests/ctc_fixtures.py)."""
    from ctc_fixtures import tiny_model

    return tiny_model(tmp_path_factory.mktemp("model") / "tiny")
