"""Word timestamps measured against speech whose word boundaries are known.

Each test utterance is a KJV test-book sentence (Judges, John, Job, Daniel) spoken one word at
a time: every word is its own TTS clip (asrkit.data.tts voices, the engines `asrkit synth`
uses), trimmed of silence, and the clips are joined with random pauses of 0.1-1 s under a
-70 dBFS noise floor. Where each trimmed clip lands is the truth. A CTC model (by default the
embedded starting checkpoint, a w2v-BERT 2.0 fine-tuned with CTC by asrkit) runs once per
utterance; its log-probs are decoded

    greedy        asrkit's greedy decoder (its Hypothesis words)
    4gram         asrkit's flashlight lexicon decoder with a 4-gram built here on the KJV
                  text of the other books (asrkit.data.texts.lm_sentences)
    forced        the reference text force-aligned to the same log-probs by ctc-segmentation
                  (`pip install asrkit[bench]`): a maintained aligner (ESPnet, NeMo and
                  SpeechBrain use it) that needs only numpy, while torchaudio's forced_align
                  does not import beside a CPU torch 2.13 and ctc-forced-aligner 1.0.2 pulls
                  onnxruntime, librosa and torchaudio for its models

Errors are hypothesis minus truth, in ms, over the words a decoder got right (difflib's
matching blocks of the word sequences; forced alignment has every word), reported as the
median and 90th percentile of |error| for word starts and ends, and the median signed error
(a bias: CTC letters fire late or early). Goal: median |error| within 2 frames (40 ms).

ctc-segmentation is run on the model's letters with "|" (the word delimiter) as the state
between words, which absorbs blank and delimiter frames alike. Its states absorb blank frames
too, so where a word ends is ambiguous in a run of blanks: a word ends here at the end of the
last frame of its last letter's state where that letter outscores blank (the frame-wise rule
asrkit's greedy decoder uses); it starts at the first frame of its first letter's state.

The ecosystem check: for greedy decoding, asrkit's word times and those of
transformers.pipeline("automatic-speech-recognition", model=MODEL)(file, return_timestamps="word")
on the same model and audio, per word, in frames (goal: within one).

    .venv/bin/python benchmarks/word_times.py [--utterances 40] [--seed 1] [--work /tmp/asrkit-word-times]

Synthesised clips and the 4-gram are cached under --work, so a rerun costs the model and the
decoders only.
"""

from __future__ import annotations

import argparse
import difflib
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from asrkit.audio import SAMPLE_RATE
from asrkit.data import tts
from asrkit.data.texts import lm_sentences, sentence_pools
from asrkit.demo import EMBEDDED_CHECKPOINT

TRIM_DB = -40.0  # a clip starts and ends where its 5 ms RMS first and last reaches this, re its peak
PAUSES = (0.1, 1.0)  # seconds of silence between words, drawn uniformly
EDGE = 0.5  # seconds of silence before the first word and after the last


@dataclass(frozen=True)
class Truth:
    word: str
    start: float  # seconds
    end: float


# --------------------------------------------------------------------------- the test set


def trim(wave: np.ndarray, db: float = TRIM_DB) -> tuple[int, int]:
    """[first, last) sample of the speech in a clean clip: where its 5 ms RMS reaches `db` re
    the clip's peak RMS."""
    hop = SAMPLE_RATE // 200
    n = len(wave) // hop
    rms = np.sqrt(np.mean(wave[:n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1))
    loud = np.flatnonzero(rms >= rms.max() * 10 ** (db / 20))
    return int(loud[0] * hop), int((loud[-1] + 1) * hop)


def word_clips(voice: tts.Voice, words: list[str], cache: Path) -> dict[str, np.ndarray]:
    """Each word spoken alone by `voice` (rate and pitch 1), trimmed of silence; cached as FLAC."""
    folder = cache / f"{voice.engine}-{voice.name}"
    folder.mkdir(parents=True, exist_ok=True)
    missing = sorted({w for w in words if not (folder / f"{w}.flac").exists()})
    if missing:
        speaker = tts.Speaker(id=0, voice=voice, rate=1.0, pitch=1.0, subset="clean")
        with tempfile.TemporaryDirectory(prefix="asrkit-word-times-") as tmp:
            for raw, w in zip(tts.speak(speaker, [w.lower() for w in missing], Path(tmp)), missing):
                wave = tts.apply_effects(raw, speaker, w)
                first, last = trim(wave)
                tts.write_flac(folder / f"{w}.flac", wave[first:last])
    return {w: sf.read(str(folder / f"{w}.flac"), dtype="float32")[0] for w in set(words)}


def utterances(n: int, seed: int, cache: Path) -> list[tuple[np.ndarray, list[Truth]]]:
    """n test utterances: (waveform, the truth of each word), one clean voice each in turn."""
    rng = np.random.default_rng(seed)
    pool = sentence_pools(min_words=4, max_words=12).test
    picked = [pool[i] for i in rng.choice(len(pool), size=n, replace=False)]
    voices = [v for v in tts.VOICES if v.clean]
    tts.check_engines(voices)
    out = []
    for i, sentence in enumerate(picked):
        words = sentence.text.split()
        clips = word_clips(voices[i % len(voices)], words, cache)
        pieces, truth, t = [np.zeros(int(EDGE * SAMPLE_RATE), np.float32)], [], EDGE
        for j, w in enumerate(words):
            truth.append(Truth(w, t, t + len(clips[w]) / SAMPLE_RATE))
            pause = EDGE if j == len(words) - 1 else rng.uniform(*PAUSES)
            pieces += [clips[w], np.zeros(int(pause * SAMPLE_RATE), np.float32)]
            t = truth[-1].end + int(pause * SAMPLE_RATE) / SAMPLE_RATE
        wave = tts.add_noise_floor(np.concatenate(pieces), np.random.default_rng(seed * 1000 + i))
        out.append((wave.astype(np.float32), truth))
    return out


# --------------------------------------------------------------------------- forced alignment


def forced_alignment(log_probs: np.ndarray, words: list[str], tokens: list[str],
                     frame_seconds: float) -> list[tuple[float, float]]:
    """(start, end) seconds of each reference word by ctc-segmentation (module doc).

    log_probs: (T, V) of one utterance; tokens: the V token strings (blank first, "|" the
    word delimiter).
    """
    from ctc_segmentation import CtcSegmentationParameters, ctc_segmentation

    delim, blank = tokens.index("|"), 0
    ids = {t: i for i, t in enumerate(tokens)}
    config = CtcSegmentationParameters(char_list=list(tokens), index_duration=frame_seconds, blank=blank)
    states, firsts, lasts = [-1, delim], [], []
    for w in words:
        firsts.append(len(states))
        states += [ids[c] for c in w]
        lasts.append(len(states) - 1)
        states.append(delim)
    ground_truth = np.array(states, dtype=np.int64).reshape(-1, 1)
    timings, _, state_list = ctc_segmentation(config, log_probs.astype(np.float32), ground_truth)
    starts = [round(timings[f] / frame_seconds) for f in firsts]
    out = []
    for w, f, first_frame, last_state in zip(words, firsts, starts, lasts):
        # frames of the last letter's state: from its switch up to the next state's switch
        t0 = round(timings[last_state] / frame_seconds)
        t1 = round(timings[last_state + 1] / frame_seconds)
        letter = ids[w[-1]]
        voiced = [t for t in range(t0, max(t1, t0 + 1)) if log_probs[t, letter] >= log_probs[t, blank]]
        last = voiced[-1] if voiced else t0
        out.append((first_frame * frame_seconds, (last + 1) * frame_seconds))
    return out


# --------------------------------------------------------------------------- errors


def matched_errors(truth: list[Truth], words: list[tuple[str, float, float]]) -> list[tuple[float, float]]:
    """(start error, end error) in ms for each hypothesis word that matches a reference word
    (difflib's matching blocks of the two word sequences)."""
    ref = [t.word for t in truth]
    hyp = [w for w, _, _ in words]
    out = []
    for a, b, size in difflib.SequenceMatcher(a=ref, b=hyp, autojunk=False).get_matching_blocks():
        for k in range(size):
            t, (_, s, e) = truth[a + k], words[b + k]
            out.append((1000 * (s - t.start), 1000 * (e - t.end)))
    return out


def summarise(errors: list[tuple[float, float]], reference_words: int) -> dict:
    e = np.asarray(errors, dtype=np.float64).reshape(-1, 2)
    if not len(e):
        return {"words": 0, "of": reference_words}
    a = np.abs(e)
    return {"words": len(e), "of": reference_words,
            "start_median_ms": float(np.median(a[:, 0])), "start_p90_ms": float(np.percentile(a[:, 0], 90)),
            "end_median_ms": float(np.median(a[:, 1])), "end_p90_ms": float(np.percentile(a[:, 1], 90)),
            "start_bias_ms": float(np.median(e[:, 0])), "end_bias_ms": float(np.median(e[:, 1]))}


# --------------------------------------------------------------------------- decoding


def build_4gram(work: Path):
    """A 4-gram on the KJV text of the books the test sentences are not from (cached)."""
    from asrkit import lm

    text = work / "lm-text.txt"
    if not text.exists():
        text.write_text("\n".join(lm_sentences()) + "\n", encoding="utf-8")
    return lm.build([text], name="4gram", options=lm.BuildOptions(order=4), out_root=work / "lm")


def decoders(model_dir: Path, work: Path, beam: int) -> dict:
    """{"greedy": decoder, "4gram": decoder}, as `asrkit decode` sets them up for this model."""
    from asrkit.decode import Vocabulary, make_decoder
    from asrkit.decode.setup import DecoderChoice, setup_decoder
    from asrkit.inference import load_model, model_tokens

    build_4gram(work)
    _, processor = load_model(model_dir)
    vocab = Vocabulary.of(model_tokens(processor))
    out = {}
    for name, choice in (("greedy", DecoderChoice(lm="none")),
                         ("4gram", DecoderChoice(lm="4gram", lm_dir=work / "lm", settings={"beam": beam}))):
        setup = setup_decoder(model_dir, choice)
        out[name] = make_decoder(setup.decoder, setup.options, vocab)
    return out


def pipeline_frames_apart(model_dir: Path, waves: list[np.ndarray], ours: list[list], frame_seconds: float) -> dict:
    """transformers' ASR pipeline (return_timestamps="word") against asrkit's greedy words on
    the same audio: how many words each gives, and the largest start/end difference in frames."""
    from transformers import pipeline

    asr = pipeline("automatic-speech-recognition", model=str(model_dir), device="cpu")
    same_words, worst = 0, 0.0
    for wave, words in zip(waves, ours):
        chunks = asr({"raw": wave, "sampling_rate": SAMPLE_RATE}, return_timestamps="word")["chunks"]
        theirs = [(c["text"], float(c["timestamp"][0]), float(c["timestamp"][1])) for c in chunks]
        if [w for w, _, _ in theirs] != [w for w, _, _ in words]:
            continue
        same_words += 1
        for (_, s1, e1), (_, s2, e2) in zip(theirs, words):
            worst = max(worst, abs(s1 - s2) / frame_seconds, abs(e1 - e2) / frame_seconds)
    return {"utterances": len(waves), "same_words": same_words, "max_frames_apart": worst}


def table(results: dict) -> str:
    head = ("| method | words timed / reference | start median | start p90 | end median | end p90 "
            "| start bias | end bias |\n|---|---|---|---|---|---|---|---|\n")
    rows = []
    for name, r in results.items():
        if not r["words"]:
            rows.append(f"| {name} | 0 / {r['of']} | | | | | | |")
            continue
        rows.append(f"| {name} | {r['words']} / {r['of']} | {r['start_median_ms']:.0f} ms | {r['start_p90_ms']:.0f} ms "
                    f"| {r['end_median_ms']:.0f} ms | {r['end_p90_ms']:.0f} ms | {r['start_bias_ms']:+.0f} ms "
                    f"| {r['end_bias_ms']:+.0f} ms |")
    return head + "\n".join(rows) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--utterances", type=int, default=40, help="test utterances (sentences of 4-12 words)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--model", type=Path, default=EMBEDDED_CHECKPOINT, help="a CTC model folder")
    ap.add_argument("--beam", type=int, default=100, help="beam of the 4-gram decoder")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "asrkit-word-times",
                    help="cache of word clips and the 4-gram")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()

    from asrkit.inference import AcousticModel, LogitsOptions

    started = time.time()
    data = utterances(args.utterances, args.seed, args.work / "clips")
    acoustic = AcousticModel(args.model, LogitsOptions(device="cpu"))
    fs = acoustic.seconds_per_frame
    log_probs = acoustic.run({i: wave for i, (wave, _) in enumerate(data)})
    n_ref = sum(len(truth) for _, truth in data)
    errors: dict[str, list] = {"greedy": [], "4gram": [], "forced (ctc-segmentation)": []}
    greedy_words = []
    for name, decoder in decoders(args.model, args.work, args.beam).items():
        for i, (_, truth) in enumerate(data):
            (hyp, *_) = decoder.decode_one(log_probs[i], fs, 1) or (None,)
            words = [(w.word, w.start, w.end) for w in (hyp.words if hyp else ())]
            errors[name] += matched_errors(truth, words)
            if name == "greedy":
                greedy_words.append(words)
    for i, (_, truth) in enumerate(data):
        spans = forced_alignment(log_probs[i], [t.word for t in truth], acoustic.tokens, fs)
        errors["forced (ctc-segmentation)"] += [(1000 * (s - t.start), 1000 * (e - t.end))
                                                for t, (s, e) in zip(truth, spans)]
    results = {name: summarise(e, n_ref) for name, e in errors.items()}
    check = pipeline_frames_apart(args.model, [w for w, _ in data], greedy_words, fs)
    print(table(results))
    print(f"transformers pipeline(return_timestamps='word') vs asrkit greedy: same words on "
          f"{check['same_words']} of {check['utterances']} utterances, times at most "
          f"{check['max_frames_apart']:.2f} frames apart ({1000 * fs:.0f} ms frames)")
    print(f"{args.utterances} utterances, {n_ref} words, {sum(len(w) for w, _ in data) / SAMPLE_RATE:.0f} s of audio, "
          f"model {args.model.name}; {time.time() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "pipeline": check}, indent=2) + "\n")


if __name__ == "__main__":
    main()
