"""Hotwords measured: names the LM has never seen, spoken inside sentences, decoded with and
without `--hotword`.

Each utterance is a KJV test-book sentence (4-12 words) in which one word of four letters or
more is replaced by a made-up name (NAMES, none of them in the LM text: checked), spoken by
a clean `asrkit synth` voice (asrkit.data.tts) under its -70 dBFS noise floor. A CTC model
(by default the embedded starting checkpoint, a w2v-BERT 2.0 fine-tuned with CTC by asrkit)
runs once; its log-probs are decoded with a 4-gram built here on the KJV text of the other
books (asrkit.data.texts.lm_sentences), as `asrkit decode --lm 4gram` sets the decoders up
(default weights), by

    flashlight    the lexicon decoder: a name is no word of its lexicon, so without a
                  hotword it can never be emitted; with one it is spelled in and boosted
    pyctcdecode   its beam search, whose own hotwords boost partial and whole matches

each with no hotwords and with every name as a hotword at each weight of --weights.

Reported per decoder and weight: hotword recall (name occurrences of the references found in
the hypotheses, as a multiset), false alarms (names in hypotheses beyond the references), and
the WER over the other words (every name removed from references and hypotheses alike, so a
name put in place of another word still counts as that word's deletion). Goal: recall up,
other-word WER up by no more than 1 point.

    .venv/bin/python benchmarks/hotwords.py [--utterances 60] [--weights 5,10] [--beam 100]
        [--work /tmp/asrkit-hotwords]

Synthesised audio and the 4-gram are cached under --work, so a rerun costs the model and the
decoders only.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from asrkit.data import tts
from asrkit.data.texts import lm_sentences, sentence_pools
from asrkit.demo import EMBEDDED_CHECKPOINT

NAMES = ("ZORBAN", "KELVARA", "TRIVOLT", "MARNOX", "QUENDRIL", "BELMORA", "DAXTON", "FENWICK",
         "JORVIK", "LUMERA", "PRAXTON", "VELDOR")


def check_names_unseen(lm_text: list[str]) -> None:
    words = {w for line in lm_text for w in line.split()}
    seen = [n for n in NAMES if n in words]
    if seen:
        raise SystemExit(f"names in the LM text, not a fair test: {seen}")


def sentences(n: int, seed: int) -> list[str]:
    """n test sentences, each with one word (4+ letters) replaced by a name, names in turn."""
    rng = np.random.default_rng(seed)
    pool = [s.text for s in sentence_pools(min_words=4, max_words=12).test]
    out = []
    for i in rng.permutation(len(pool)):
        words = pool[i].split()
        slots = [j for j, w in enumerate(words) if len(w) >= 4]
        if not slots:
            continue
        words[int(rng.choice(slots))] = NAMES[len(out) % len(NAMES)]
        out.append(" ".join(words))
        if len(out) == n:
            break
    return out


def waves(texts: list[str], seed: int, cache: Path) -> list[np.ndarray]:
    """One clean-voice recording per text (cached as FLAC under `cache`)."""
    import soundfile as sf

    voices = [v for v in tts.VOICES if v.clean]
    tts.check_engines(voices)
    cache.mkdir(parents=True, exist_ok=True)
    out = []
    for i, text in enumerate(texts):
        path = cache / f"{seed}-{i:04d}.flac"
        if not path.exists():
            speaker = tts.Speaker(id=i, voice=voices[i % len(voices)], rate=1.0, pitch=1.0, subset="clean")
            with tempfile.TemporaryDirectory() as tmp:
                (raw,) = tts.speak(speaker, [text.lower()], Path(tmp))
                wave = tts.apply_effects(raw, speaker, text)
            tts.write_flac(path, tts.add_noise_floor(wave, np.random.default_rng(seed * 1000 + i)))
        out.append(sf.read(path, dtype="float32")[0])
    return out


def build_4gram(work: Path):
    from asrkit import lm

    text = work / "lm-text.txt"
    if not text.exists():
        text.write_text("\n".join(lm_sentences()) + "\n", encoding="utf-8")
    return lm.build([text], name="4gram", options=lm.BuildOptions(order=4), out_root=work / "lm")


def without_names(text: str) -> str:
    return " ".join(w for w in text.split() if w not in NAMES)


def measure(refs: list[str], hyps: list[str]) -> dict:
    from asrkit.results import Recog
    from asrkit.score import score

    ref_names = Counter(w for t in refs for w in t.split() if w in NAMES)
    hyp_names = Counter(w for t in hyps for w in t.split() if w in NAMES)
    found = sum((ref_names & hyp_names).values())
    other = score([Recog(str(i), "s", 0.0, without_names(r), without_names(h)) for i, (r, h) in enumerate(zip(refs, hyps))])
    return {"recall": found / max(1, sum(ref_names.values())), "found": found, "names": sum(ref_names.values()),
            "false_alarms": sum((hyp_names - ref_names).values()), "other_wer": other.wer,
            "wer": score([Recog(str(i), "s", 0.0, r, h) for i, (r, h) in enumerate(zip(refs, hyps))]).wer}


def decode_all(model_dir: Path, work: Path, decoder: str, beam: int, hotwords, log_probs, frame_seconds) -> list[str]:
    from asrkit.decode import Vocabulary, make_decoder, parallel_decode
    from asrkit.decode.setup import DecoderChoice, setup_decoder
    from asrkit.hypotheses import best

    choice = DecoderChoice(lm="4gram", lm_dir=work / "lm", decoder=decoder, use_tuned=False,
                           settings={"beam": beam, "hotwords": hotwords})
    setup = setup_decoder(model_dir, choice)
    dec = make_decoder(setup.decoder, setup.options, Vocabulary.of(log_probs[1]))
    return [best(n).text for n in parallel_decode(dec, log_probs[0], frame_seconds=frame_seconds)]


def table(rows: list[dict]) -> str:
    head = ("| decoder | hotwords | name recall | false alarms | WER other words | WER all words |\n"
            "|---|---|---|---|---|---|\n")
    return head + "\n".join(
        f"| {r['decoder']} | {r['hotwords']} | {r['found']}/{r['names']} ({100 * r['recall']:.0f}%) | "
        f"{r['false_alarms']} | {100 * r['other_wer']:.1f}% | {100 * r['wer']:.1f}% |" for r in rows) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--utterances", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--model", type=Path, default=EMBEDDED_CHECKPOINT, help="a CTC model folder")
    ap.add_argument("--beam", type=int, default=100, help="beam of both decoders")
    ap.add_argument("--weights", default="5,10", help="hotword weights tried, comma-separated")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "asrkit-hotwords",
                    help="cache of recordings and the 4-gram")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()

    from asrkit.inference import AcousticModel, LogitsOptions

    started = time.time()
    check_names_unseen(lm_sentences())
    refs = sentences(args.utterances, args.seed)
    audio = waves(refs, args.seed, args.work / "audio")
    build_4gram(args.work)
    acoustic = AcousticModel(args.model, LogitsOptions(device="cpu"))
    lp = acoustic.run(dict(enumerate(audio)))
    log_probs = ([lp[i] for i in range(len(refs))], acoustic.tokens)
    rows = []
    for decoder in ("flashlight", "pyctcdecode"):
        for weight in [None] + [float(w) for w in args.weights.split(",")]:
            hot = None if weight is None else tuple((n, weight) for n in NAMES)
            hyps = decode_all(args.model, args.work, decoder, args.beam, hot, log_probs, acoustic.seconds_per_frame)
            rows.append({"decoder": decoder, "hotwords": "none" if weight is None else f"{len(NAMES)} names, weight {weight:g}",
                         **measure(refs, hyps)})
            print(rows[-1], flush=True)
    print(table(rows))
    print(f"{len(refs)} utterances, {sum(len(a) for a in audio) / 16000:.0f} s of audio, "
          f"{time.time() - started:.0f} s in all")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
