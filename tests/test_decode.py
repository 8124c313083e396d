"""Decoders on hand-written log-prob matrices with known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from asrkit.decode import Vocabulary, check_log_probs, parallel_decode
from asrkit.decode import flashlight as fl
from asrkit.decode import greedy
from asrkit.decode import pyctcdecode as pcd
from asrkit.errors import DecodeError, LMError, SettingError
from ctc_fixtures import (BLANK, FLOOR, V, VOCAB, ambiguous, decode_with, normalise, peaky, write_arpa,
                          write_lexicon)


def matrix(tokens: list[str]) -> np.ndarray:
    """One frame per token; "-" is the blank."""
    ids = [BLANK if t == "-" else VOCAB.index(t) for t in tokens]
    x = np.full((len(ids), V), FLOOR, dtype=np.float32)
    x[np.arange(len(ids)), ids] = 0.0
    return normalise(x)


# --------------------------------------------------------------------------- greedy


@pytest.mark.parametrize("frames, expected", [
    ("H H E L L O", "HELO"),  # repeats merge
    ("H E L - L O", "HELLO"),  # a blank between equal letters keeps both
    ("- - H - I - -", "HI"),  # blanks vanish
    ("H I | | - T H E R E", "HI THERE"),  # | is the space
    ("| H I | |", "HI"),  # leading/trailing delimiters make no empty words
    ("H I | - | Y O", "HI YO"),  # two delimiters make one space
    ("- - -", ""),  # all blank
    ("D O N ' T", "DON'T"),
])
def test_greedy_collapse_rules(frames, expected):
    assert decode_with("greedy", [matrix(frames.split())]) == [expected]


def test_greedy_unknown_token_is_dropped():
    assert decode_with("greedy", [matrix(["H", "<unk>", "I"])]) == ["HI"]


def test_greedy_empty_utterance_and_3d_batch():
    batch = np.stack([matrix("A - B".split()), matrix("C C C".split())])  # (B, T, V)
    assert decode_with("greedy", batch) == ["AB", "C"]
    assert decode_with("greedy", [np.zeros((0, V), np.float32)]) == [""]


def test_collapse_ids():
    assert greedy.collapse(np.array([0, 5, 5, 0, 5, 6, 6, 0]), 0) == [5, 5, 6]


def test_vocabulary_mismatch_is_a_clear_error():
    with pytest.raises(DecodeError, match=r"V=31 columns but the vocabulary has 30 tokens"):
        decode_with("greedy", [np.zeros((4, 31), np.float32)])
    with pytest.raises(ValueError, match="must be a batch"):
        check_log_probs(np.zeros((4, V)), VOCAB)


def test_vocabulary_needs_blank_and_delimiter():
    with pytest.raises(DecodeError, match="no blank token"):
        Vocabulary(("A", "B", "|"))


# --------------------------------------------------------------------------- beam search + LM


@pytest.fixture
def cat_lm(tmp_path):
    """An LM that strongly prefers THE CAT over THE COT, and one preferring COT."""
    def make(name, cat, cot):
        return write_arpa(tmp_path / f"{name}.arpa", {"THE": -0.5, "CAT": cat, "COT": cot, "DOG": -1.5})
    lexicon = write_lexicon(tmp_path / "lexicon.txt", ["THE", "CAT", "COT", "DOG"])
    (tmp_path / "unigrams.txt").write_text("THE\nCAT\nCOT\nDOG\n")
    return make("cat", -1.0, -4.0), make("cot", -4.0, -1.0), lexicon, tmp_path / "unigrams.txt"


def test_flashlight_lm_chooses_between_equal_spellings(cat_lm):
    cat, cot, lexicon, _ = cat_lm
    x = ambiguous("THE CAT", 5, {"A": 0.5, "O": 0.5})  # acoustics can't tell CAT from COT
    for lm, expected in ((cat, "THE CAT"), (cot, "THE COT")):
        out = decode_with("flashlight", [x], fl.FlashlightOptions(lm=str(lm), lexicon=str(lexicon), beam=20))
        assert out == [expected]


def test_pyctcdecode_lm_chooses_between_equal_spellings(cat_lm):
    cat, cot, _, unigrams = cat_lm
    x = ambiguous("THE CAT", 5, {"A": 0.5, "O": 0.5})
    for lm, expected in ((cat, "THE CAT"), (cot, "THE COT")):
        out = decode_with("pyctcdecode", [x], pcd.PyctcdecodeOptions(lm=str(lm), unigrams=str(unigrams), beam=20))
        assert out == [expected]


def test_lexicon_decoder_only_emits_lexicon_words(cat_lm):
    cat, _, lexicon, _ = cat_lm
    # The acoustics slightly prefer X (CAX is no word); greedy takes it, the lexicon cannot.
    x = ambiguous("THE CAT", 6, {"X": 0.55, "T": 0.45})
    assert decode_with("greedy", [x]) == ["THE CAX"]
    out = decode_with("flashlight", [x], fl.FlashlightOptions(lm=str(cat), lexicon=str(lexicon), beam=20))
    assert out == ["THE CAT"]


def test_flashlight_without_lm_uses_the_lexicon_alone(cat_lm):
    _, _, lexicon, _ = cat_lm
    x = peaky("THE DOG")
    assert decode_with("flashlight", [x], fl.FlashlightOptions(lm=None, lexicon=str(lexicon), beam=10)) == ["THE DOG"]


def test_word_score_trades_insertions(cat_lm):
    """A strongly negative word score makes the decoder prefer fewer words."""
    cat, _, lexicon, _ = cat_lm
    # "THE" then an ambiguous stretch that is either nothing (blank) or "DOG".
    x = peaky("THE DOG")
    x[-9:] = np.log(np.full(V, 1e-6) + np.eye(V)[BLANK] * 0.5 + np.isin(np.arange(V), [
        VOCAB.index("D"), VOCAB.index("O"), VOCAB.index("G"), VOCAB.delimiter_id]) * 0.5)
    x = normalise(x)
    base = fl.FlashlightOptions(lm=str(cat), lexicon=str(lexicon), beam=50, lm_weight=0.0)
    many = decode_with("flashlight", [x], fl.FlashlightOptions(**{**base.__dict__, "word_score": 5.0}))[0]
    few = decode_with("flashlight", [x], fl.FlashlightOptions(**{**base.__dict__, "word_score": -20.0}))[0]
    assert len(many.split()) > len(few.split())


def test_decoders_agree_on_clean_peaky_input(cat_lm):
    cat, _, lexicon, unigrams = cat_lm
    texts = ["THE CAT", "THE DOG", "DOG", "THE COT THE CAT"]
    batch = [peaky(t, repeat=r) for t, r in zip(texts, (1, 2, 3, 2))]
    assert decode_with("greedy", batch) == texts
    assert decode_with("flashlight", batch, fl.FlashlightOptions(lm=str(cat), lexicon=str(lexicon), beam=20)) == texts
    assert decode_with("pyctcdecode", batch, pcd.PyctcdecodeOptions(lm=str(cat), unigrams=str(unigrams), beam=20)) == texts
    assert decode_with("lexfree", batch, fl.LexiconFreeOptions(beam=20)) == texts


def test_lexicon_free_with_a_letter_lm(tmp_path):
    # A letter LM in which "T" is far likelier than "X" after "A".
    letters = {c: -1.5 for c in "THECAXO|"}
    bigrams = {("A", "T"): -0.1, ("A", "X"): -3.0, ("C", "A"): -0.1, ("T", "|"): -0.1}
    lm = write_arpa(tmp_path / "letters.arpa", letters, bigrams)
    x = ambiguous("CAT", 2, {"X": 0.55, "T": 0.45})
    assert decode_with("lexfree", [x], fl.LexiconFreeOptions(beam=20)) == ["CAX"]
    assert decode_with("lexfree", [x], fl.LexiconFreeOptions(lm=str(lm), lm_weight=1.0, beam=20)) == ["CAT"]


def test_parallel_decoding_matches_serial(cat_lm):
    cat, _, lexicon, _ = cat_lm
    rng = np.random.default_rng(0)
    words = ["THE", "CAT", "COT", "DOG"]
    texts = [" ".join(rng.choice(words, size=rng.integers(1, 5))) for _ in range(12)]
    batch = [normalise(peaky(t) + rng.normal(0, 2.0, size=peaky(t).shape).astype(np.float32)) for t in texts]
    decoder = fl.Decoder(fl.FlashlightOptions(lm=str(cat), lexicon=str(lexicon), beam=20), VOCAB)
    serial = parallel_decode(decoder, batch, frame_seconds=0.02, nbest=3)
    assert parallel_decode(decoder, batch, workers=2, frame_seconds=0.02, nbest=3) == serial
    assert decode_with("flashlight", batch, decoder.options, workers=2) == [n[0].text for n in serial]


def test_bad_lm_file_is_a_clear_error(tmp_path, cat_lm):
    _, _, lexicon, unigrams = cat_lm
    bad = tmp_path / "bad.arpa"
    bad.write_text("this is not a language model\n")
    with pytest.raises(LMError, match="bad.arpa: not a KenLM language model"):
        decode_with("flashlight", [peaky("THE")], fl.FlashlightOptions(lm=str(bad), lexicon=str(lexicon)))
    with pytest.raises(LMError, match="bad.arpa: not a KenLM language model"):
        decode_with("pyctcdecode", [peaky("THE")], pcd.PyctcdecodeOptions(lm=str(bad), unigrams=str(unigrams)))
    truncated = tmp_path / "truncated.arpa"
    truncated.write_text("\\data\\\nngram 1=5\n\n\\1-grams:\n-1.0\tTHE\n")
    with pytest.raises(LMError, match="truncated.arpa: KenLM cannot load"):
        decode_with("flashlight", [peaky("THE")], fl.FlashlightOptions(lm=str(truncated), lexicon=str(lexicon)))


def test_lexicon_with_no_spellable_word(tmp_path, cat_lm):
    cat, _, _, _ = cat_lm
    lexicon = tmp_path / "digits.txt"
    lexicon.write_text("42\t4 2 |\n")
    with pytest.raises(LMError, match="no word of the lexicon can be spelled"):
        fl.Decoder(fl.FlashlightOptions(lm=str(cat), lexicon=str(lexicon)), VOCAB)


def test_options_are_checked_up_front():
    with pytest.raises(SettingError, match="needs a lexicon"):
        fl.FlashlightOptions(lm=None, lexicon=None).check()
    with pytest.raises(SettingError, match="`beam`"):
        pcd.PyctcdecodeOptions(beam=0).check()


def test_unk_score_json_safe():
    from asrkit.decode.run import _jsonable

    assert json.dumps(_jsonable({"unk_score": -math.inf})) == '{"unk_score": "-inf"}'


# --------------------------------------------------------------------------- end to end


from ctc_fixtures import SENTENCES, needs_kenlm, noisy, tiny_model, write_cache  # noqa: E402


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.setenv("ASRKIT_WORK", str(tmp_path / "work"))
    return tmp_path / "work"


@pytest.fixture
def tiny_lm(tmp_path, work):
    """A 3-gram built with lmplz from 48 sentences of the grammar (dev uses the others)."""
    from asrkit import lm

    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(s.lower() + "." for s in SENTENCES[::5] + SENTENCES[1::5] + SENTENCES[2::5]))
    return lm.build([text], name="tiny", options=lm.BuildOptions(order=3))


@needs_kenlm
def test_lm_path_end_to_end(tmp_path, work, tiny_lm, capsys):
    from asrkit.cli import main
    from asrkit.results import read_recogs, read_summary

    rng = np.random.default_rng(1)
    dev = list(SENTENCES[3::5] + SENTENCES[4::5])  # 32 sentences the LM never saw
    model = tmp_path / "model"
    write_cache(model, "dev", dev, [noisy(t, rng, sigma=1.2) for t in dev])  # greedy WER ~0.34
    args = ["decode", "--model", str(model), "--split", "dev", "--manifests", str(tmp_path), "--workers", "2"]
    assert main(args + ["--lm", "none"]) == 0
    assert main(args + ["--lm", "tiny", "--beam", "50", "--lm-weight", "1.0", "--word-score", "0", "--nbest", "4"]) == 0
    assert main(args + ["--lm", "tiny", "--decoder", "pyctcdecode", "--beam", "50"]) == 0
    out = capsys.readouterr().out
    assert "dev\tgreedy\tWER" in out and "dev\ttiny\tWER" in out and "dev\ttiny-pyctcdecode\tWER" in out

    greedy_wer = read_summary(model / "decode/dev/greedy").wer
    lm_summary = read_summary(model / "decode/dev/tiny")
    assert greedy_wer > 0.25  # the noise makes letter errors ...
    assert lm_summary.wer < greedy_wer / 3  # ... that the lexicon and LM mostly fix
    assert read_summary(model / "decode/dev/tiny-pyctcdecode").wer < greedy_wer
    assert lm_summary.decoder["name"] == "flashlight" and lm_summary.decoder["beam"] == 50
    assert lm_summary.decoder["lm_weight"] == 1.0 and lm_summary.command.startswith("asrkit decode")
    assert lm_summary.utterances == 32 and lm_summary.rtf > 0
    recogs = read_recogs(model / "decode/dev/tiny")
    assert [r.ref for r in recogs] == dev and recogs[0].speaker == "1"
    assert (model / "decode/dev/tiny/errs.txt").read_text().startswith(f"%WER = {100 * lm_summary.wer:.2f}")

    # The N-best lists: up to 4 distinct hypotheses, best first, the best being recogs' hyp,
    # and what made them (the logits cache, the decoder, the LM's info.json by sha256).
    import hashlib

    from asrkit.results import read_nbest

    meta, rows = read_nbest(model / "decode/dev/tiny")
    assert [i for i, _, _ in rows] == [r.id for r in recogs] and [ref for _, ref, _ in rows] == dev
    assert all(1 <= len(h) <= 4 and len({x.text for x in h}) == len(h) for _, _, h in rows)
    assert max(len(h) for _, _, h in rows) > 1
    assert [h[0].text for _, _, h in rows] == [r.hyp for r in recogs]
    assert [h[0].words for _, _, h in rows] == [r.words for r in recogs]
    assert all(len(r.words) == len(r.hyp.split()) for r in recogs)
    info = tiny_lm.path.parent / "info.json"
    assert meta["lm"]["sha256"] == hashlib.sha256(info.read_bytes()).hexdigest()
    assert meta["logits_fingerprint"] == json.loads((model / "logits/dev/index.json").read_text())["fingerprint"]
    assert meta["decoder"]["name"] == "flashlight" and meta["decoder"]["lm_weight"] == 1.0 and meta["nbest"] == 4
    assert meta["lm_weight_ln"] == pytest.approx(1.0 / math.log(10))
    from asrkit.errors import DataError
    from asrkit.results import check_nbest_source

    check_nbest_source(model / "decode/dev/tiny", meta, meta["logits_fingerprint"], meta["lm"]["sha256"])
    with pytest.raises(DataError, match="nbest-info.json: these N-best lists come from log-probs"):
        check_nbest_source(model / "decode/dev/tiny", meta, logits_fingerprint="another")
    with pytest.raises(DataError, match="were made with the LM"):
        check_nbest_source(model / "decode/dev/tiny", meta, lm_sha256="0" * 64)


def test_decode_split_scores_known_hypotheses(tmp_path):
    from asrkit.decode.greedy import GreedyOptions
    from asrkit.decode.run import decode_split

    texts = ["THE CAT SAT", "A DOG"]
    cache = write_cache(tmp_path, "dev", ["THE CAT SAT", "A BIG DOG"], [peaky(t) for t in texts])
    s = decode_split(tmp_path, "dev", cache, "greedy", GreedyOptions(), "greedy", progress=False)
    assert (s.wer, s.deletions, s.ref_words, s.substitutions) == (pytest.approx(1 / 6), 1, 6, 0)


def test_decode_writes_timed_words_and_nbest(tmp_path, capsys):
    from asrkit.cli import main
    from asrkit.results import read_nbest, read_recogs

    cache = write_cache(tmp_path / "m", "dev", ["HI YOU", "A DOG"], [matrix("- H H I - | - Y O U -".split()),
                                                                   peaky("A DOG")])
    base = ["decode", "--model", str(tmp_path / "m"), "--split", "dev", "--manifests", str(tmp_path)]
    assert main(base + ["--nbest", "0"]) == 1
    assert "--nbest is 0" in capsys.readouterr().err
    assert main(base + ["--nbest", "3"]) == 0
    out = tmp_path / "m/decode/dev/greedy"
    recogs = read_recogs(out)
    assert [(w.word, w.start, w.end) for w in recogs[0].words] == [("HI", 0.02, 0.08), ("YOU", 0.14, 0.2)]
    meta, rows = read_nbest(out)
    assert [len(h) for _, _, h in rows] == [1, 1]  # greedy has one hypothesis whatever --nbest
    assert meta["lm"] is None and meta["logits_fingerprint"] == cache.index["fingerprint"]
    assert meta["seconds_per_frame"] == 0.02


def test_old_results_folders_still_read(tmp_path):
    """recogs.jsonl rows written before words existed read with no words; a folder without
    nbest.jsonl says how to make one."""
    from asrkit.errors import DataError
    from asrkit.results import read_nbest, read_recogs

    (tmp_path / "recogs.jsonl").write_text(json.dumps({"id": "a", "speaker": "s", "duration": 1.0,
                                                       "ref": "HI", "hyp": "HI"}) + "\n")
    (r,) = read_recogs(tmp_path)
    assert r.hyp == "HI" and r.words == ()
    with pytest.raises(DataError, match="nbest.jsonl: no such file.*--nbest"):
        read_nbest(tmp_path)


@pytest.mark.parametrize("row, problem", [
    ({"id": "a", "ref": "", "hyps": []}, "an empty N-best list"),
    ({"id": "a", "ref": "", "hyps": [{"text": "A", "scores": {"total": -2}}, {"text": "B", "scores": {"total": -1}}]},
     "not sorted best first"),
    ({"id": "a", "ref": "", "hyps": [{"words": []}]}, "not a hypothesis"),
    ({"id": "a", "ref": "", "hyps": [{"text": "A", "scores": {"total": "inf"}}]}, "not finite"),
    ({"ref": "", "hyps": []}, "not an N-best row"),
])
def test_read_nbest_checks_what_it_reads(tmp_path, row, problem):
    from asrkit.errors import DataError
    from asrkit.hypotheses import Hypothesis
    from asrkit.results import read_nbest, write_nbest

    write_nbest(tmp_path, [("u1", "HI", (Hypothesis("HI"),))], {"nbest": 1})
    meta, rows = read_nbest(tmp_path)
    assert meta == {"nbest": 1} and rows == [("u1", "HI", (Hypothesis("HI"),))]
    (tmp_path / "nbest.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(DataError, match=f"nbest.jsonl:1: .*{problem}"):
        read_nbest(tmp_path)


def test_decode_empty_split_is_a_clear_error(tmp_path, capsys):
    from asrkit.cli import main

    write_cache(tmp_path / "model", "dev", [], [])
    assert main(["decode", "--model", str(tmp_path / "model"), "--split", "dev", "--manifests", str(tmp_path)]) == 1
    assert "the split 'dev' has no utterances" in capsys.readouterr().err


def test_decode_cli_option_errors(tmp_path, work, capsys):
    from asrkit.cli import main

    write_cache(tmp_path / "m", "dev", ["HI"], [peaky("HI")])
    base = ["decode", "--model", str(tmp_path / "m"), "--split", "dev", "--manifests", str(tmp_path)]
    assert main(base + ["--lm", "nope"]) == 1
    assert "unknown language model 'nope'" in capsys.readouterr().err
    assert main(base + ["--beam", "10"]) == 1
    assert "--beam need a beam-search decoder" in capsys.readouterr().err
    assert main(base + ["--decoder", "flashlight"]) == 1
    assert "needs --lm" in capsys.readouterr().err


def test_decode_with_logits_from_a_model_mismatching_the_tokenizer(tmp_path, capsys):
    """Logits with V != tokens (a cache from another vocabulary) are refused by name."""
    from asrkit.cli import main

    cache = write_cache(tmp_path / "m", "dev", ["HI"], [peaky("HI")])
    index = json.loads((cache.folder / "index.json").read_text())
    index["tokens"] = index["tokens"] + ["X1", "X2"]
    (cache.folder / "index.json").write_text(json.dumps(index))
    assert main(["decode", "--model", str(tmp_path / "m"), "--split", "dev", "--manifests", str(tmp_path)]) == 1
    assert "log-probs have V=30 columns but the vocabulary has 32 tokens" in capsys.readouterr().err


def test_decode_runs_the_model_when_no_cache(tmp_path, capsys):
    """The whole path: manifest -> tiny model -> cached logits -> greedy results."""
    import soundfile as sf

    from asrkit.cli import main
    from asrkit.data.manifest import Utterance, write_manifest

    model = tiny_model(tmp_path / "model")
    wave = (0.1 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32)
    sf.write(tmp_path / "a.flac", wave, 16000)
    write_manifest(tmp_path / "dev.jsonl", [Utterance("1-1-0000", str(tmp_path / "a.flac"), 8000, 16000, "1", "1", "HELLO")])
    assert main(["decode", "--model", str(model), "--split", "dev", "--manifests", str(tmp_path)]) == 0
    assert (model / "logits/dev/index.json").is_file() and (model / "decode/dev/greedy/recogs.jsonl").is_file()


def test_decode_lm_by_name_from_another_lm_dir(tmp_path, work, capsys):
    from asrkit.cli import main
    from asrkit.results import read_recogs

    folder = tmp_path / "lms" / "pets"
    folder.mkdir(parents=True)
    write_arpa(folder / "pets.arpa", {"THE": -0.5, "CAT": -1.0, "COT": -4.0})
    write_lexicon(folder / "lexicon.txt", ["THE", "CAT", "COT"])
    (folder / "info.json").write_text(json.dumps({"name": "pets", "order": 2, "unit": "word"}))
    write_cache(tmp_path / "m", "dev", ["THE CAT"], [ambiguous("THE CAT", 5, {"A": 0.5, "O": 0.5})])
    base = ["decode", "--model", str(tmp_path / "m"), "--split", "dev", "--manifests", str(tmp_path),
            "--lm", "pets", "--workers", "1"]
    assert main(base) == 1  # not under the workspace's lm/
    assert "unknown language model 'pets'" in capsys.readouterr().err
    assert main(base + ["--lm-dir", str(tmp_path / "lms")]) == 0
    assert [r.hyp for r in read_recogs(tmp_path / "m/decode/dev/pets")] == ["THE CAT"]


@needs_kenlm
def test_lexicon_free_decoding_with_a_built_letter_lm(tmp_path, work, capsys):
    from asrkit import lm
    from asrkit.cli import main
    from asrkit.results import read_summary

    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(SENTENCES[::2]))
    lm.build([text], name="letters", options=lm.BuildOptions(order=6, unit="letter"))
    rng = np.random.default_rng(2)
    dev = list(SENTENCES[1::8])
    write_cache(tmp_path / "m", "dev", dev, [noisy(t, rng, sigma=1.2) for t in dev])
    base = ["decode", "--model", str(tmp_path / "m"), "--split", "dev", "--manifests", str(tmp_path), "--workers", "1"]
    assert main(base + ["--lm", "none"]) == 0
    assert main(base + ["--lm", "letters", "--decoder", "lexfree", "--beam", "30", "--lm-weight", "1.0"]) == 0
    assert main(base + ["--lm", "letters"]) == 1  # a letter LM cannot drive the lexicon decoder
    assert "use --decoder lexfree" in capsys.readouterr().err
    greedy_wer = read_summary(tmp_path / "m/decode/dev/greedy").wer
    assert read_summary(tmp_path / "m/decode/dev/letters-lexfree").wer < greedy_wer
