"""asrkit.lm.transformer: building a word-level Transformer LM, resuming, scoring, perplexity,
and the bad inputs (no tokenizer, a vocabulary that cannot spell words)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from asrkit.errors import LMError, SettingError
from asrkit.lm import resolve
from asrkit.lm.transformer import (CausalLMScorer, ScorerOptions, TransformerOptions, build_transformer,
                                   perplexity, word_tokenizer, word_vocabulary)

SENTENCES = ["THE CAT SAT ON THE MAT", "THE DOG SAT ON THE LOG", "A CAT SAT ON A MAT",
             "THE DOG RAN TO THE CAT", "the cat sat on the mat!"]  # the last normalises to the first
TINY = TransformerOptions(layers=1, width=32, heads=2, context=16, steps=60, batch=8, lr=1e-2,
                          dropout=0.0, checkpoint_every=20)


def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "text.txt"
    path.write_text("\n".join(SENTENCES * 4) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """A Transformer LM trained for 60 updates on five sentences (~2 s)."""
    root = tmp_path_factory.mktemp("tlm")
    return build_transformer([corpus(root)], name="tiny", options=TINY, out_root=root / "lm", progress=False)


def test_build_writes_a_folder_transformers_loads_with_its_tokenizer(tiny_lm):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert tiny_lm.kind == "transformer" and tiny_lm.path.is_dir()
    tok = AutoTokenizer.from_pretrained(tiny_lm.path)
    model = AutoModelForCausalLM.from_pretrained(tiny_lm.path)
    assert tok("THE CAT ZEBRA", add_special_tokens=False)["input_ids"][-1] == tok.unk_token_id
    assert model.config.vocab_size == len(tok)
    info = json.loads((tiny_lm.path / "info.json").read_text())
    # the text is read through the one normaliser: "the cat sat on the mat!" is the first sentence
    assert info["kind"] == "transformer" and info["vocabulary"] == 10 and info["corpus_lines"] == 20


def test_resolve_and_available_find_it_by_name(tiny_lm):
    from asrkit.lm import available

    root = tiny_lm.path.parent
    assert resolve("tiny", root).kind == "transformer"
    assert "tiny" in available(root)


def test_trained_model_prefers_training_sentences(tiny_lm):
    scorer = CausalLMScorer(tiny_lm.path)
    good, scrambled = scorer.score(["THE CAT SAT ON THE MAT", "MAT THE ON SAT CAT THE"])
    assert good > scrambled + 3


def test_sentence_score_is_the_sum_of_bos_conditioned_token_log_probs(tiny_lm):
    """score = sum of log p(token | BOS, previous) over the words and EOS, natural log."""
    import torch

    scorer = CausalLMScorer(tiny_lm.path)
    ids = scorer.ids("THE CAT")
    assert ids[0] == scorer.bos and ids[-1] == scorer.eos and len(ids) == 4
    with torch.no_grad():
        lp = torch.log_softmax(scorer.model(input_ids=torch.tensor([ids])).logits[0], -1)
    by_hand = sum(lp[i, ids[i + 1]].item() for i in range(3))
    assert scorer.score(["THE CAT"])[0] == pytest.approx(by_hand, abs=1e-4)
    # an empty hypothesis still pays for ending at once
    assert scorer.score([""])[0] < 0


def test_batching_and_windows_do_not_change_scores(tiny_lm):
    texts = ["THE CAT SAT ON THE MAT", "THE DOG", "A CAT SAT ON A MAT THE DOG RAN TO THE CAT"]
    one = CausalLMScorer(tiny_lm.path, ScorerOptions(batch=1))
    many = CausalLMScorer(tiny_lm.path, ScorerOptions(batch=3))
    assert many.score(texts) == pytest.approx(one.score(texts), abs=1e-4)
    # longer than the context: scored in windows, each position once
    long = " ".join(["THE CAT SAT ON THE MAT"] * 5)
    lps = one.token_log_probs([long])[0]
    assert len(lps) == len(long.split()) + 1 and all(math.isfinite(x) and x < 0 for x in lps)


def test_build_is_idempotent_and_resumes_an_interrupted_build(tmp_path, monkeypatch):
    import asrkit.lm.transformer as t

    text = corpus(tmp_path)
    calls = []
    real = t._checkpoint

    def interrupt(partial, recipe, model, opt, schedule, step):
        real(partial, recipe, model, opt, schedule, step)
        calls.append(step)
        if step == 20:
            raise KeyboardInterrupt

    monkeypatch.setattr(t, "_checkpoint", interrupt)
    with pytest.raises(KeyboardInterrupt):
        build_transformer([text], name="r", options=TINY, out_root=tmp_path / "lm", progress=False)
    assert (tmp_path / "lm" / ".r.partial" / "checkpoint.pt").is_file()
    assert not (tmp_path / "lm" / "r").exists()  # nothing published before it is finished
    resumed = []
    real_resume = t._resume
    monkeypatch.setattr(t, "_resume", lambda *a: resumed.append(real_resume(*a)) or resumed[-1])
    build_transformer([text], name="r", options=TINY, out_root=tmp_path / "lm", progress=False)
    assert resumed == [20] and calls[-1] == 40  # continued from 20, not from 0
    assert not (tmp_path / "lm" / ".r.partial").exists()
    mtime = (tmp_path / "lm" / "r" / "model.safetensors").stat().st_mtime_ns
    build_transformer([text], name="r", options=TINY, out_root=tmp_path / "lm", progress=False)
    assert (tmp_path / "lm" / "r" / "model.safetensors").stat().st_mtime_ns == mtime


def test_perplexity_uses_one_oov_rule_for_both_models(tiny_lm, tmp_path):
    from asrkit import lm

    pytest.importorskip("kenlm")
    try:
        ngram = lm.build([corpus(tmp_path)], name="3gram", options=lm.BuildOptions(order=3),
                         out_root=tmp_path / "lm")
    except LMError as e:
        pytest.skip(f"KenLM tools unavailable: {e}")
    scorer = CausalLMScorer(tiny_lm.path)
    result = perplexity(["THE CAT SAT ON THE ZEBRA", "THE DOG SAT"], scorer, ngram.path)
    # ZEBRA is outside both vocabularies: 9 words, 1 OOV, + 2 sentence ends = 10 predictions
    assert result["oov"] == 1 and result["predictions"] == 10
    assert 1 < result["transformer"] < 10 + 3 and 1 < result["ngram"] < 10 + 3
    lps = scorer.token_log_probs(["THE CAT SAT ON THE ZEBRA", "THE DOG SAT"])
    kept = lps[0][:5] + lps[0][6:] + lps[1]
    assert result["transformer"] == pytest.approx(math.exp(-sum(kept) / 10), rel=1e-3)


def test_folder_without_tokenizer_is_one_line_error(tiny_lm, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(tiny_lm.path, bare)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        (bare / f).unlink()
    with pytest.raises(LMError, match="without a tokenizer") as e:
        CausalLMScorer(bare)
    assert "\n" not in str(e.value)
    with pytest.raises(LMError, match="without a tokenizer"):
        resolve(str(bare))


def test_unspellable_words_are_found(tiny_lm):
    scorer = CausalLMScorer(tiny_lm.path)
    assert scorer.unspellable(["THE", "CAT", "ZEBRA"]) == ["ZEBRA"]
    lower = CausalLMScorer(tiny_lm.path, ScorerOptions(case="lower"))
    assert lower.unspellable(["THE", "CAT"]) == ["THE", "CAT"]  # its vocabulary is upper case


def test_options_are_checked():
    with pytest.raises(SettingError, match="heads"):
        TransformerOptions(width=30, heads=4).check()
    with pytest.raises(SettingError, match="lr"):
        TransformerOptions(lr=float("nan")).check()
    with pytest.raises(SettingError, match="lm_case"):
        ScorerOptions(case="title").check()


def test_word_tokenizer_round_trip():
    vocab = word_vocabulary(["B A A", "C"])
    assert vocab[:4] == ["<pad>", "<s>", "</s>", "<unk>"] and vocab[4:] == ["A", "B", "C"]
    tok = word_tokenizer(vocab)
    assert tok("A C D", add_special_tokens=False)["input_ids"] == [4, 6, 3]


def test_any_causal_lm_folder_registers_by_name(tiny_lm, tmp_path, capsys):
    """--lm-model: a ready causal LM is usable by name; given lower-case text, this upper-case
    vocabulary cannot spell an upper-case lexicon, which rescoring refuses."""
    from asrkit.cli import main
    from asrkit.rescore import check_spelling, load_rescorer

    root = tmp_path / "lm"
    assert main(["lm", "build", "--kind", "transformer", "--lm-model", str(tiny_lm.path), "--name", "ext",
                 "--lm-dir", str(root)]) == 0
    assert main(["lm", "list", "--lm-dir", str(root)]) == 0
    assert "ext\ttransformer" in capsys.readouterr().out
    lm, scorer = load_rescorer("ext", root)
    assert lm.info["model"] == str(tiny_lm.path.resolve()) and scorer.options.case == "lower"
    with pytest.raises(LMError, match="cannot spell 3 of the 3 words"):
        check_spelling(scorer, ["THE", "CAT", "SAT"], "the 4gram lexicon")
    _, keep = load_rescorer(str(tiny_lm.path))
    check_spelling(keep, ["THE", "CAT", "SAT"], "the 4gram lexicon")


def test_registering_a_folder_without_tokenizer_fails_and_writes_nothing(tiny_lm, tmp_path, capsys):
    from asrkit.cli import main

    bare = tmp_path / "bare"
    shutil.copytree(tiny_lm.path, bare)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        (bare / f).unlink()
    assert main(["lm", "build", "--kind", "transformer", "--lm-model", str(bare), "--name", "x",
                 "--lm-dir", str(tmp_path / "lm")]) == 1
    err = capsys.readouterr().err
    assert "without a tokenizer" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "lm" / "x").exists()


def test_subword_causal_lm_scores_the_sum_over_its_pieces(tmp_path):
    """Any causal LM folder works, a byte-level BPE one too (random init: only the arithmetic
    is checked): a word of several pieces adds each piece's log-probability, BOS is context
    and EOS is predicted."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([s.lower() for s in SENTENCES] * 3,
                            trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    folder = tmp_path / "bpe"
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(fast), n_positions=32, n_embd=16, n_layer=1, n_head=2)).save_pretrained(folder)
    fast.save_pretrained(folder)
    scorer = CausalLMScorer(folder, ScorerOptions(case="lower"))
    assert scorer.unspellable(["ZEBRA"]) == []  # bytes spell anything
    ids = scorer.ids("THE ZEBRA")
    assert len(ids) > 4 and ids[0] == ids[-1] == fast.eos_token_id  # GPT-2 style: one token both ends
    with torch.no_grad():
        lp = torch.log_softmax(scorer.model(input_ids=torch.tensor([ids])).logits[0], -1)
    by_hand = sum(lp[i, ids[i + 1]].item() for i in range(len(ids) - 1))
    assert scorer.score(["THE ZEBRA"])[0] == pytest.approx(by_hand, abs=1e-4)
