"""`asrkit decode --rescore` and `asrkit tune-lm --rescore` end to end on a logits cache:
the 4-gram pass writes N-best lists, a tiny Transformer LM re-ranks them into a results
folder of its own that the report puts in the Transformer column; cached lists of another
model or LM are refused with nothing overwritten."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ctc_fixtures import SENTENCES, needs_kenlm, noisy, write_cache
from asrkit.lm.transformer import TransformerOptions, build_transformer

pytestmark = [needs_kenlm, pytest.mark.slow]

TINY = TransformerOptions(layers=1, width=32, heads=2, context=16, steps=80, batch=16, lr=1e-2, dropout=0.0)


@pytest.fixture(scope="module")
def lm_root(tmp_path_factory):
    """A 3-gram and a Transformer LM on the same text, built once for the module (read-only)."""
    from asrkit import lm

    root = tmp_path_factory.mktemp("rescore-lms")
    text = root / "corpus.txt"
    text.write_text("\n".join(SENTENCES[::5] + SENTENCES[1::5] + SENTENCES[2::5]))
    lm.build([text], name="ngram", options=lm.BuildOptions(order=3), out_root=root / "lm")
    build_transformer([text], name="transformer", options=TINY, out_root=root / "lm", progress=False)
    return root / "lm"


@pytest.fixture
def setup(tmp_path, monkeypatch, lm_root):
    """A model folder with a noisy dev cache; the decode flags of a 3-gram pass rescored."""
    monkeypatch.setenv("ASRKIT_WORK", str(tmp_path / "work"))
    rng = np.random.default_rng(1)
    dev = list(SENTENCES[3::5] + SENTENCES[4::5])
    model = tmp_path / "model"
    write_cache(model, "dev", dev, [noisy(t, rng, sigma=1.2) for t in dev])
    args = ["--model", str(model), "--split", "dev", "--manifests", str(tmp_path), "--lm", "ngram",
            "--lm-dir", str(lm_root), "--beam", "30", "--rescore", "transformer", "--nbest", "8"]
    return model, args


def test_decode_rescore_writes_a_transformer_result_the_report_shows(setup, tmp_path, capsys):
    from asrkit.cli import main
    from asrkit.report.collect import load_model, rows
    from asrkit.results import read_nbest, read_summary

    model, args = setup
    assert main(["decode", *args, "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "dev\ttransformer\tWER" in out and "8-best oracle" in out
    first_meta, first_rows = read_nbest(model / "decode/dev/ngram")
    assert first_meta["nbest"] == 8 and max(len(nb) for _, _, nb in first_rows) > 1
    s = read_summary(model / "decode/dev/transformer")
    assert s.decoder["name"] == "rescore" and s.decoder["first_pass_setting"] == "ngram"
    assert s.decoder["oracle_wer"] <= s.wer and s.decoder["oracle_wer"] <= s.decoder["first_pass_wer"]
    assert s.command.startswith("asrkit decode") and "--rescore transformer" in s.command
    meta, ranked = read_nbest(model / "decode/dev/transformer")
    assert meta["rescored"]["lm"]["name"] == "transformer"
    # every list is the first pass's hypotheses in the new order, the first one the result
    by_id = {i: nb for i, _, nb in first_rows}
    assert all(sorted(h.text for h in nb) == sorted(h.text for h in by_id[i]) for i, _, nb in ranked)
    kinds = {r.setting: r.lm for r in rows([load_model(model)])}
    assert kinds == {"ngram": "ngram", "transformer": "transformer"}  # a 3-gram is named by its setting


def test_tune_lm_rescore_uses_cached_lists_and_decode_uses_the_result(setup, tmp_path, capsys, monkeypatch):
    import asrkit.decode.run as run
    from asrkit.cli import main
    from asrkit.results import read_summary, read_tuning

    model, args = setup
    assert main(["decode", *args, "--workers", "1"]) == 0
    decodes = []
    real = run.decode_split
    monkeypatch.setattr(run, "decode_split", lambda *a, **k: decodes.append(a) or real(*a, **k))
    assert main(["tune-lm", *[a for a in args if a != "--workers"], "--trials", "20"]) == 0
    assert decodes == []  # no decoding at all: the cached lists are re-ranked per trial
    record = next(r for r in read_tuning(model) if r["decoder"] == "rescore")
    assert record["lm"] == "transformer" and len(record["trials"]) == 21 and record["nbest"] == 8
    assert record["best_wer"] <= record["default_wer"]
    capsys.readouterr()
    assert main(["decode", *args, "--workers", "1"]) == 0
    s = read_summary(model / "decode/dev/transformer")
    assert s.decoder["lm_weight"] == pytest.approx(record["best"]["lm_weight"])
    assert s.decoder["weights"] == "tuned (lm-tuning.json)"
    assert decodes == []  # the first pass's lists were reused as well
    # weights tuned for another build of "transformer" are not applied to this one
    path = model / "lm-tuning.json"
    path.write_text(path.read_text().replace(record["rescorer"]["sha256"], "0" * 64))
    assert main(["decode", *args, "--workers", "1"]) == 0
    assert read_summary(model / "decode/dev/transformer").decoder["weights"].startswith("defaults")


def _tamper(model, key, value):
    path = model / "decode/dev/ngram/nbest-info.json"
    meta = json.loads(path.read_text())
    meta[key] = value
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize("key, value, message", [
    ("logits_fingerprint", "another-model", "come from log-probs 'another-model'"),
    ("lm", {"name": "ngram", "path": "/elsewhere/ngram.bin", "sha256": "0" * 64}, "were made with the LM"),
])
def test_lists_of_another_model_or_lm_are_refused(setup, capsys, key, value, message):
    from asrkit.cli import main

    model, args = setup
    assert main(["decode", *args, "--workers", "1"]) == 0
    _tamper(model, key, value)
    before = {p: p.read_bytes() for p in (model / "decode").rglob("*") if p.is_file()}
    tuning = (model / "lm-tuning.json").read_bytes() if (model / "lm-tuning.json").exists() else None
    capsys.readouterr()
    assert main(["tune-lm", *args, "--trials", "4"]) == 1
    err = capsys.readouterr().err
    assert message in err and "nbest-info.json" in err and len(err.strip().splitlines()) == 1
    assert before == {p: p.read_bytes() for p in (model / "decode").rglob("*") if p.is_file()}
    assert tuning == ((model / "lm-tuning.json").read_bytes() if (model / "lm-tuning.json").exists() else None)


def test_bad_second_lms_and_weights_are_one_line_errors(setup, tmp_path, capsys):
    import shutil

    from asrkit.cli import main

    model, args = setup
    lm_dir = lambda: Path(args[args.index("--lm-dir") + 1])  # noqa: E731
    base = [a for a in args]
    i = base.index("--rescore")
    bare = tmp_path / "bare"
    shutil.copytree(lm_dir() / "transformer", bare)
    (bare / "tokenizer.json").unlink()
    (bare / "tokenizer_config.json").unlink()
    cases = [
        (str(bare), [], "without a tokenizer"),
        ("ngram", [], "is a KenLM word n-gram"),
        ("transformer", ["--rescore-lm-weight", "nan"], "--rescore-lm-weight is nan"),
        ("lowered", [], "cannot spell"),
    ]
    from asrkit.lm.transformer import register_transformer

    register_transformer(str(lm_dir() / "transformer"), "lowered", case="lower", out_root=lm_dir())  # upper-case vocabulary
    for lm, extra, message in cases:
        base[i + 1] = lm
        assert main(["decode", *base, *extra]) == 1
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (model / "decode/dev/transformer").exists()


def test_tune_lm_rescore_bad_inputs_change_nothing(setup, tmp_path, capsys):
    from asrkit.cli import main
    from asrkit.lm.transformer import register_transformer

    model, args = setup
    root = Path(args[args.index("--lm-dir") + 1])
    register_transformer(str(root / "transformer"), "lowered", case="lower", out_root=root)
    i = args.index("--rescore")
    cases = [(["--rescore-ngram-weight", "inf"], "--rescore-ngram-weight is inf"),
             (["--weight-range", "nan", "1"], "--weight-range nan..1"),
             (["--tune-ngram-weight", "2", "1"], "--tune-ngram-weight 2.0..1.0")]
    lowered = [*args[:i + 1], "lowered", *args[i + 2:]]
    for extra, message in cases:
        assert main(["tune-lm", *args, *extra, "--trials", "2"]) == 1
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert main(["tune-lm", *lowered, "--trials", "2"]) == 1
    assert "cannot spell" in capsys.readouterr().err
    assert not (model / "decode").exists() and not (model / "lm-tuning.json").exists()


def test_a_transformer_lm_as_the_first_pass_lm_points_to_rescore(setup, capsys):
    from asrkit.cli import main

    model, args = setup
    i = args.index("--lm")
    first = [*args[:i + 1], "transformer", *args[i + 2:args.index("--rescore")]]
    assert main(["decode", *first]) == 1
    err = capsys.readouterr().err
    assert "--lm transformer is a Transformer LM" in err and "--rescore to transformer" in err
    assert len(err.strip().splitlines()) == 1 and not (model / "decode").exists()
