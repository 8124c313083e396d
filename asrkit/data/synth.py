"""`asrkit synth`: a LibriSpeech / Libri-light layout corpus spoken by offline TTS.

Layout under the root (the contract `asrkit prepare` reads):

    LibriSpeech/{dev-clean,dev-other,test-clean,test-other}/<spk>/<chap>/<spk>-<chap>-<utt>.flac
    LibriSpeech/<split>/<spk>/<chap>/<spk>-<chap>.trans.txt    "<spk>-<chap>-<utt> UPPER CASE TEXT"
    LibriSpeech/train-clean-100/...                            (--train-clean-100-minutes)
    LibriSpeech/train-other-500/...                            (--train-other-500-minutes)
    LibriSpeech/SPEAKERS.TXT                                   who each speaker id is
    librispeech_finetuning/1h/{0..5}/{clean,other}/<spk>/<chap>/...   (10min = 1h/0)
    librispeech_finetuning/9h/{clean,other}/...                (--nine-hours-minutes)
    synth-report.json     per split: utterances, seconds, speakers; the settings and seed
    lm-text.txt           training-side sentences for an LM (no dev or test sentence)

Audio is 16 kHz mono 16-bit FLAC. Speakers are engine x voice x rate x pitch (x effects
for "other"); dev, test and training speakers are disjoint, and so is their text
(held-out books, see asrkit.data.texts). The plan (which sentence each speaker says, in
which chapter) is made up front from the seed alone, so a seed gives the same corpus
every time; audio is then made in parallel, and files already there are kept.

Two purposes, two disjoint corpora (make them in different folders):

    finetune  the demo's corpus: training parts speak the "train" books, dev and test
              the dev and test books; speakers from the grid RATES x PITCHES (ids 1000+,
              3000+).
    pretrain  the corpus for the starting checkpoint: every part, dev and test included,
              speaks the "pretrain" books (dev and test draw their sentences first and
              training parts never repeat them), and speakers come from a second grid
              whose rates and pitches are off the first (PRETRAIN_RATES x PRETRAIN_PITCHES,
              ids 5000+, 7000+). So no voice and no sentence of it is in a finetune corpus.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import soundfile as sf
from tqdm import tqdm

from asrkit.data import texts, tts
from asrkit.data.texts import Sentence
from asrkit.data.tts import Speaker
from asrkit.errors import DataError, SettingError
from asrkit.io import make_dir, write_json, write_text
from asrkit.workspace import cpu_cores

log = logging.getLogger(__name__)

REPORT = "synth-report.json"
LM_TEXT = "lm-text.txt"
# What the same settings make: a corpus of another format holds other audio or sentences,
# so synth refuses to add to it (_check_settings). Raise it whenever that changes.
FORMAT = "asrkit-synth 3"
PURPOSES = ("finetune", "pretrain")
VOICE_POOLS = ("grid", "wide")
FOLDS = 6  # Libri-light's 1h set is six 10-minute folds

# The speaker grid. Its order fixes every speaker id: append, never reorder.
RATES = (0.9, 1.0, 1.12)
PITCHES = (0.86, 0.93, 1.0, 1.08, 1.16)
# (speed, reverb, noise) for "other" speakers of the clean voices, and of the others.
_OTHER_EFFECTS_CLEAN_VOICES = ((1.0, 50, ""), (1.0, 0, "white"), (1.0, 0, "pink"),
                               (1.0, 50, "pink"), (0.9, 0, ""), (1.1, 0, ""))
_OTHER_EFFECTS_OTHER_VOICES = ((1.0, 0, ""), (1.0, 50, ""), (1.0, 0, "pink"), (1.1, 0, ""))
CLEAN_ID_BASE, OTHER_ID_BASE = 1000, 3000
# The pretraining grid: every rate and pitch lies between the finetune grid's, so no
# pretraining speaker sounds like a finetune one (espeak-ng pitch 30/44/58/74 against
# 22/36/50/66/82, 184/165 words a minute against 194/175/156). Same voices and effects.
PRETRAIN_RATES = (0.95, 1.06)
PRETRAIN_PITCHES = (0.9, 0.97, 1.04, 1.12)
PRETRAIN_CLEAN_ID_BASE, PRETRAIN_OTHER_ID_BASE = 5000, 7000
# The wide pool (`voices` wide, pretrain only): WIDE_SPEAKERS[subset] more speakers drawn from
# the seed, each a voice at a rate and a pitch drawn uniformly from WIDE_RANGE, redrawn while
# both lie within WIDE_MARGIN of a finetune grid point (RATES x PITCHES), so that no
# pretraining speaker sounds like a demo speaker (dev and test included). Clean: the clean voices; other: alternately a
# voice of VOICES and one of espeak-ng's English voice x variant pairs (tts.espeak_voices,
# less VOICES' own pairs; drawn from all ~800 pairs alone, 99% of them would be espeak-ng),
# with the grid's effects.
WIDE_SPEAKERS = {"clean": 400, "other": 1200}
WIDE_RANGE = (0.8, 1.25)
WIDE_MARGIN = 0.025
WIDE_CLEAN_ID_BASE, WIDE_OTHER_ID_BASE = 20_000, 40_000
# Utterances per work item: festival starts once per item (0.3 s), and small items
# keep all cores busy to the end.
_CHUNK = 8


@dataclass(frozen=True)
class SynthOptions:
    root: Path  # corpus folder; LibriSpeech/ and librispeech_finetuning/ are made in it
    seed: int = 0  # same seed and options: same sentences, speakers, chapters and audio
    fold_minutes: float = 10.0  # audio in each Libri-light 1h fold, half clean, half other
    folds: int = 1  # how many of the six 1h folds to make; fold 0 is the 10min split
    nine_hours_minutes: float = 0.0  # audio in 9h/{clean,other} together (540 = real size)
    train_clean_100_minutes: float = 0.0  # audio in LibriSpeech/train-clean-100 (0 = none)
    train_other_500_minutes: float = 0.0  # audio in LibriSpeech/train-other-500 (0 = none)
    dev_minutes: float = 3.0  # audio in each of dev-clean and dev-other
    test_minutes: float = 3.0  # audio in each of test-clean and test-other
    speaker_minutes: float = 0.5  # audio per speaker in a split; sets how many speakers it has
    chapter_utterances: int = 20  # utterances per chapter at most
    snr_db: float = 15.0  # signal-to-noise ratio of the noise some "other" speakers get
    engines: tuple[str, ...] = tts.ENGINES  # TTS engines to draw speakers from
    min_words: int = 4  # shortest sentence spoken, in words
    max_words: int = 25  # longest sentence spoken (longer ones are split at : and ;)
    purpose: str = "finetune"  # "finetune" (the demo) or "pretrain" (the starting checkpoint)
    # "grid": the purpose's speaker grid; "wide" (pretrain only): that grid plus WIDE_SPEAKERS
    # more, at continuous rates and pitches, with espeak-ng's English voice x variant pairs.
    voices: str = "grid"
    jobs: int = field(default=0, compare=False)  # worker processes; 0 = one per CPU core

    def settings(self) -> dict:
        """The options that decide the corpus's content (not where or how fast it is made)."""
        d = dataclasses.asdict(self)
        del d["root"], d["jobs"]
        if d["voices"] == "grid":  # corpora made before `voices` existed keep their settings
            del d["voices"]
        d["engines"] = list(self.engines)
        return d


def verify_options(o: SynthOptions) -> None:
    """Raise SettingError saying which setting is wrong and what it may be."""
    if o.purpose not in PURPOSES:
        raise SettingError(f"`purpose` must be one of {', '.join(PURPOSES)}, not {o.purpose!r}")
    if o.voices not in VOICE_POOLS:
        raise SettingError(f"`voices` must be one of {', '.join(VOICE_POOLS)}, not {o.voices!r}")
    if o.voices == "wide" and o.purpose != "pretrain":
        raise SettingError("`voices` wide is for `purpose` pretrain only: the demo's corpus keeps its grid")
    for name in ("fold_minutes", "nine_hours_minutes", "train_clean_100_minutes",
                 "train_other_500_minutes", "dev_minutes", "test_minutes"):
        value = getattr(o, name)
        if not (value >= 0 and math.isfinite(value)):
            raise SettingError(f"`{name}` must be a number of minutes >= 0, not {value}")
    if not 0 <= o.folds <= FOLDS:
        raise SettingError(f"`folds` must be 0 to {FOLDS} (Libri-light's 1h set has six folds), "
                           f"not {o.folds}")
    if not o.speaker_minutes > 0:
        raise SettingError(f"`speaker_minutes` must be > 0, not {o.speaker_minutes}")
    if o.chapter_utterances < 1:
        raise SettingError(f"`chapter_utterances` must be >= 1, not {o.chapter_utterances}")
    if not -20 <= o.snr_db <= 100:
        raise SettingError(f"`snr_db` must be between -20 and 100 dB, not {o.snr_db}")
    unknown = [e for e in o.engines if e not in tts.ENGINES]
    if unknown or not o.engines:
        raise SettingError(f"`engines`: unknown or none given ({', '.join(unknown) or 'empty'}); "
                           f"choose from {', '.join(tts.ENGINES)}")
    if not 1 <= o.min_words <= o.max_words:
        raise SettingError(f"need 1 <= `min_words` <= `max_words`, not {o.min_words}, {o.max_words}")
    if o.jobs < 0:
        raise SettingError(f"`jobs` must be >= 0 (0 = one per CPU core), not {o.jobs}")


# ---------------------------------------------------------------------------- speakers


def speaker_grid(purpose: str = "finetune", voices: str = "grid", seed: int = 0) -> list[Speaker]:
    """Every speaker a purpose's grid can make, ids in a fixed order: finetune clean
    1000+ and other 3000+, pretrain clean 5000+ and other 7000+; `voices` wide adds
    wide_speakers(seed) (clean 20000+, other 40000+)."""
    if purpose == "pretrain":
        grid = _grid(PRETRAIN_RATES, PRETRAIN_PITCHES, PRETRAIN_CLEAN_ID_BASE, PRETRAIN_OTHER_ID_BASE)
        return grid + wide_speakers(seed) if voices == "wide" else grid
    if purpose != "finetune":
        raise SettingError(f"unknown purpose {purpose!r} ({', '.join(PURPOSES)})")
    return _grid(RATES, PITCHES, CLEAN_ID_BASE, OTHER_ID_BASE)


def _grid(rates: Sequence[float], pitches: Sequence[float], clean_base: int,
          other_base: int) -> list[Speaker]:
    clean, other = [], []
    for voice in tts.VOICES:
        for rate, pitch in itertools.product(rates, pitches):
            if voice.clean:
                clean.append(dict(voice=voice, rate=rate, pitch=pitch, subset="clean"))
            effects = _OTHER_EFFECTS_CLEAN_VOICES if voice.clean else _OTHER_EFFECTS_OTHER_VOICES
            for speed, reverb, noise in effects:
                other.append(dict(voice=voice, rate=rate, pitch=pitch, subset="other",
                                  speed=speed, reverb=reverb, noise=noise))
    return ([Speaker(id=clean_base + i, **s) for i, s in enumerate(clean)]
            + [Speaker(id=other_base + i, **s) for i, s in enumerate(other)])


def off_grid(rng: random.Random) -> tuple[float, float]:
    """(rate, pitch) uniform in WIDE_RANGE^2, redrawn while within WIDE_MARGIN of a finetune
    grid point in both."""
    while True:
        rate, pitch = round(rng.uniform(*WIDE_RANGE), 3), round(rng.uniform(*WIDE_RANGE), 3)
        near_rate = min(abs(rate - r) for r in RATES) < WIDE_MARGIN
        near_pitch = min(abs(pitch - p) for p in PITCHES) < WIDE_MARGIN
        if not (near_rate and near_pitch):
            return rate, pitch


def wide_speakers(seed: int) -> list[Speaker]:
    """The wide pool's speakers, from the seed alone (see WIDE_SPEAKERS)."""
    taken = {v.name for v in tts.VOICES}
    pairs = [v for v in tts.espeak_voices() if v.name not in taken]
    sources = {"clean": [[v for v in tts.VOICES if v.clean]], "other": [list(tts.VOICES), pairs]}
    out = []
    for subset, base in (("clean", WIDE_CLEAN_ID_BASE), ("other", WIDE_OTHER_ID_BASE)):
        rng = random.Random(f"{seed}:wide-speakers:{subset}")
        for i in range(WIDE_SPEAKERS[subset]):
            voice = rng.choice(sources[subset][i % len(sources[subset])])
            rate, pitch = off_grid(rng)
            effects = {}
            if subset == "other":
                pool = _OTHER_EFFECTS_CLEAN_VOICES if voice.clean else _OTHER_EFFECTS_OTHER_VOICES
                speed, reverb, noise = rng.choice(pool)
                effects = dict(speed=speed, reverb=reverb, noise=noise)
            out.append(Speaker(id=base + i, voice=voice, rate=rate, pitch=pitch, subset=subset, **effects))
    return out


# ---------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Part:
    folder: str  # relative to the root, e.g. "LibriSpeech/dev-clean"
    subset: str  # "clean" or "other": which speakers read it
    side: str  # "train", "dev" or "test": its role (purpose pretrain: all speak pretrain books)
    minutes: float  # audio wanted (planned from estimated durations)


@dataclass(frozen=True)
class Chapter:
    folder: str  # the part's folder
    speaker: Speaker
    id: int
    sentences: tuple[Sentence, ...]

    def directory(self, root: Path) -> Path:
        return root / self.folder / str(self.speaker.id) / str(self.id)

    def utt_ids(self) -> list[str]:
        return [f"{self.speaker.id}-{self.id}-{i:04d}" for i in range(len(self.sentences))]

    def flac(self, root: Path, utt_id: str) -> Path:
        return self.directory(root) / f"{utt_id}.flac"

    def trans_path(self, root: Path) -> Path:
        return self.directory(root) / f"{self.speaker.id}-{self.id}.trans.txt"

    def trans_text(self) -> str:
        # LibriSpeech format: "1089-134686-0000 HE HOPED THERE WOULD BE STEW FOR DINNER"
        return "".join(f"{u} {s.text}\n" for u, s in zip(self.utt_ids(), self.sentences))


def parts(o: SynthOptions) -> list[Part]:
    """The folders to make, in plan order (dev and test first, so their plan never
    depends on the training sizes)."""
    out = []
    for side, minutes in (("dev", o.dev_minutes), ("test", o.test_minutes)):
        for subset in ("clean", "other"):
            out.append(Part(f"LibriSpeech/{side}-{subset}", subset, side, minutes))
    for fold in range(o.folds):
        for subset in ("clean", "other"):
            out.append(Part(f"librispeech_finetuning/1h/{fold}/{subset}", subset, "train",
                            o.fold_minutes / 2))
    for subset in ("clean", "other"):
        out.append(Part(f"librispeech_finetuning/9h/{subset}", subset, "train",
                        o.nine_hours_minutes / 2))
    out.append(Part("LibriSpeech/train-clean-100", "clean", "train", o.train_clean_100_minutes))
    out.append(Part("LibriSpeech/train-other-500", "other", "train", o.train_other_500_minutes))
    return [p for p in out if p.minutes > 0]


def estimate_seconds(sentence: Sentence, speaker: Speaker) -> float:
    """Planned duration of `sentence` as `speaker` says it, padding included."""
    letters = len(sentence.text) - sentence.text.count(" ")
    speech = speaker.voice.pace * letters * speaker.rate / speaker.speed
    return speech + tts.PAD_BEFORE + tts.PAD_AFTER


def plan(o: SynthOptions) -> list[Chapter]:
    """Every chapter of the corpus: speakers, chapter ids and sentences, from the seed alone."""
    all_parts = parts(o)
    sentences = _Sentences(o)
    speakers = _assign_speakers(o, all_parts)
    chapters, next_chapter = [], 10_000
    for part in all_parts:
        chosen = speakers[part.folder]
        target = part.minutes * 60 / len(chosen)
        for speaker in chosen:
            said: list[Sentence] = []
            seconds = 0.0
            while seconds < target:
                said.append(sentences.take(part))
                seconds += estimate_seconds(said[-1], speaker)
            for start in range(0, len(said), o.chapter_utterances):
                chunk = tuple(said[start:start + o.chapter_utterances])
                chapters.append(Chapter(part.folder, speaker, next_chapter, chunk))
                next_chapter += 1
    return chapters


class _Sentences:
    """Where each part's sentences come from, by purpose.

    finetune: dev and test parts take from the dev and test books, training parts
    from the train books. pretrain: dev and test parts take from the pretrain books
    first, and training parts from what they left, so the held-out split of the
    pretraining corpus is disjoint from its training text. parts() lists dev and test
    before any training part, which this relies on.
    """

    def __init__(self, o: SynthOptions):
        self.seed, self.purpose = o.seed, o.purpose
        self.pools = texts.sentence_pools(o.min_words, o.max_words)
        self.train: _Shuffled | None = None
        if o.purpose == "finetune":
            self.held_out = {side: _Shuffled(getattr(self.pools, side),
                                             f"{o.seed}:sentences:{side}", side)
                             for side in ("dev", "test")}
        else:
            shared = _Shuffled(self.pools.pretrain, f"{o.seed}:sentences:pretrain-held-out",
                               "pretrain")
            self.held_out = {"dev": shared, "test": shared}

    def take(self, part: Part) -> Sentence:
        if part.side != "train":
            if self.train is not None:
                raise RuntimeError(f"{part.folder}: held-out parts must be planned first")
            return self.held_out[part.side].take(part.folder)
        if self.train is None:
            self.train = self._training()
        return self.train.take(part.folder)

    def _training(self) -> _Shuffled:
        if self.purpose == "finetune":
            return _Shuffled(self.pools.train, f"{self.seed}:sentences:train", "train",
                             repeat=True)
        said = {s.text for s in self.held_out["dev"].taken()}
        rest = [s for s in self.pools.pretrain if s.text not in said]
        return _Shuffled(rest, f"{self.seed}:sentences:pretrain", "pretrain", repeat=True)


class _Shuffled:
    """Sentences of one side in a seeded order, each handed out once. A training side
    (repeat=True) starts a new, reshuffled pass when it runs out (the train books'
    ~16,600 sentences last about 27 hours, the pretrain books' ~15,000 about 24), so
    that training sentences repeat with other speakers; dev and test never repeat a
    sentence."""

    def __init__(self, pool: Sequence[Sentence], seed: str, side: str, repeat: bool = False):
        self.pool, self.seed, self.side, self.repeat = list(pool), seed, side, repeat
        self.passes, self.next, self.items = 0, 0, self._order(0)

    def _order(self, n: int) -> list[Sentence]:
        items = list(self.pool)
        random.Random(self.seed if n == 0 else f"{self.seed}:pass{n}").shuffle(items)
        return items

    def take(self, folder: str) -> Sentence:
        if self.next >= len(self.items):
            if not self.repeat or not self.items:
                raise DataError(f"{folder}: the {self.side} side has only {len(self.pool)} "
                                f"sentences of the allowed length and they are all used; "
                                f"ask for fewer minutes")
            self.passes += 1
            log.warning("synth: all %d training sentences are used; %s starts pass %d over them",
                        len(self.pool), folder, self.passes + 1)
            self.items, self.next = self._order(self.passes), 0
        self.next += 1
        return self.items[self.next - 1]

    def taken(self) -> list[Sentence]:
        """The sentences handed out so far (every one, when no new pass has started)."""
        if self.passes:
            return list(self.pool)
        return self.items[:self.next]


def _assign_speakers(o: SynthOptions, all_parts: list[Part]) -> dict[str, list[Speaker]]:
    """Speakers per part: dev and test take their own from the front of the shuffled
    pool; training parts cycle through the rest, so folds differ in speakers while the
    pool lasts."""
    grid = [s for s in speaker_grid(o.purpose, o.voices, o.seed) if s.voice.engine in o.engines]
    out: dict[str, list[Speaker]] = {}
    for subset in ("clean", "other"):
        pool = [s for s in grid if s.subset == subset]
        # finetune keeps its seed string, so its speakers are as before pretrain existed
        tag = "speakers" if o.purpose == "finetune" else "pretrain-speakers"
        random.Random(f"{o.seed}:{tag}:{subset}").shuffle(pool)
        mine = [p for p in all_parts if p.subset == subset]
        for part in (p for p in mine if p.side != "train"):
            n = _speaker_count(part, o)
            if n >= len(pool):
                raise DataError(f"{part.folder} needs {n} speakers but only {len(pool)} "
                                f"{subset} speakers are left with engines "
                                f"{', '.join(o.engines)}: raise `speaker_minutes` or add `engines`")
            out[part.folder], pool = pool[:n], pool[n:]
        cursor = itertools.cycle(pool)
        for part in (p for p in mine if p.side == "train"):
            n = min(_speaker_count(part, o), len(pool))
            out[part.folder] = [next(cursor) for _ in range(n)]
    return out


def _speaker_count(part: Part, o: SynthOptions) -> int:
    return max(1, round(part.minutes / o.speaker_minutes))


# ---------------------------------------------------------------------------- making audio


def synthesize(o: SynthOptions, progress: bool = True) -> dict:
    """Make (or complete) the corpus under o.root and return the synth report."""
    verify_options(o)
    root = make_dir(o.root)
    _check_settings(root, o)
    chapters = plan(o)
    tts.check_engines(sorted({c.speaker.voice for c in chapters}, key=lambda v: v.name))
    if not (root / REPORT).exists():  # mark the folder as ours, with these settings
        write_json(root / REPORT, {"format": FORMAT, "complete": False, "seed": o.seed,
                                   "settings": o.settings()})
    work = _missing_work(root, o.seed, chapters)
    todo = sum(len(items) for _, items in work)
    log.info("synth: %d chapters, %d utterances to make, %d already there",
             len(chapters), todo, sum(len(c.sentences) for c in chapters) - todo)
    _run_work(root, o, chapters, work, progress)
    frames = read_frames(root, chapters)
    _write_if_changed(root / "LibriSpeech" / "SPEAKERS.TXT", speakers_txt(chapters, frames))
    _write_if_changed(root / LM_TEXT, "".join(s + "\n" for s in lm_text(o, chapters)))
    report = build_report(o, chapters, frames)
    _write_if_changed(root / REPORT, json.dumps(report, indent=2) + "\n")
    return report


def lm_text(o: SynthOptions, chapters: list[Chapter]) -> list[str]:
    """LM training text: every sentence outside the dev and test books (lm_sentences),
    less the sentences this corpus's dev and test parts say (with purpose pretrain they
    come from the pretrain books, which the LM text otherwise holds)."""
    held_out = {s.text for c in chapters if not _is_training(c.folder) for s in c.sentences}
    return [line for line in texts.lm_sentences(o.max_words) if line not in held_out]


def _is_training(folder: str) -> bool:
    return not folder.startswith(("LibriSpeech/dev-", "LibriSpeech/test-"))


def _check_settings(root: Path, o: SynthOptions) -> None:
    path = root / REPORT
    if not path.exists():
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
        old_settings = old["settings"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{path}: not a synth report ({e}); remove it or choose another `root`")
    if old.get("format") != FORMAT:
        raise DataError(f"{root} holds a corpus made by an older asrkit synth "
                        f"({old.get('format')!r}, now {FORMAT!r}) whose audio or sentences "
                        f"differ from this version's; choose another `root`, or delete "
                        f"{root} to remake it")
    new = o.settings()
    diff = [f"{k}: {old_settings.get(k)!r} there, {v!r} now" for k, v in new.items()
            if old_settings.get(k) != v]
    if diff:
        raise DataError(f"{root} holds a corpus made with other settings ({'; '.join(diff)}); "
                        f"choose another `root`, or delete {root} to remake it")


def _missing_work(root: Path, seed: int, chapters: list[Chapter]):
    """(chapter, [(flac path, text, noise seed)]) for every utterance not on disk yet,
    in items of at most _CHUNK utterances, longest first so no core idles at the end."""
    work = []
    for chapter in chapters:
        items = [(str(chapter.flac(root, u)), s.spoken, noise_seed(seed, u))
                 for u, s in zip(chapter.utt_ids(), chapter.sentences)
                 if not chapter.flac(root, u).exists()]
        for start in range(0, len(items), _CHUNK):
            work.append((chapter, items[start:start + _CHUNK]))
    slow = {"festival": 2.0, "flite": 1.0, "espeak-ng": 0.5}  # seconds of work per item, roughly
    work.sort(key=lambda w: -slow[w[0].speaker.voice.engine] * len(w[1]))
    return work


def noise_seed(seed: int, utt_id: str) -> int:
    """A per-utterance seed for its noise, independent of the order work is done in."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{utt_id}".encode()).digest()[:8], "little")


def _render(args) -> int:
    """Work item `index`: make its audio and return the index (results come unordered)."""
    index, speaker, items, snr_db = args
    for path, _, _ in items:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    tts.render(speaker, items, snr_db)
    return index


def _run_work(root: Path, o: SynthOptions, chapters: list[Chapter], work, progress: bool) -> None:
    """Render the work items in parallel; write each chapter's transcript once its audio
    is all there, so that a transcript never names audio that does not exist."""
    left = defaultdict(int)
    for chapter, _ in work:
        left[chapter.id] += 1
    for chapter in chapters:
        if not left[chapter.id]:
            _write_if_changed(chapter.trans_path(root), chapter.trans_text())
    jobs = o.jobs or cpu_cores()
    args = [(i, chapter.speaker, items, o.snr_db) for i, (chapter, items) in enumerate(work)]
    bar = tqdm(total=sum(len(items) for _, items in work), unit="utt", desc="synth",
               disable=not progress or not work)
    with bar:
        for index in _map(args, jobs):
            chapter, items = work[index]
            bar.update(len(items))
            left[chapter.id] -= 1
            if not left[chapter.id]:
                _write_if_changed(chapter.trans_path(root), chapter.trans_text())


def _map(args: list, jobs: int) -> Iterator[int]:
    """Results of _render as they finish: in this process for one job, else in a pool."""
    if jobs == 1 or len(args) <= 1:
        yield from map(_render, args)
        return
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(min(jobs, len(args))) as pool:
        yield from pool.imap_unordered(_render, args)


def _write_if_changed(path: Path, text: str) -> None:
    """Leave an identical file alone, so a rerun changes no modification time."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    write_text(path, text)


# ---------------------------------------------------------------------------- reports


def read_frames(root: Path, chapters: list[Chapter]) -> dict[str, int]:
    """Utterance id -> frames, from the FLAC headers on disk."""
    return {u: sf.info(str(c.flac(root, u))).frames for c in chapters for u in c.utt_ids()}


def build_report(o: SynthOptions, chapters: list[Chapter], frames: dict[str, int]) -> dict:
    """Counts per folder and per split name; `frames` from read_frames."""
    per_folder: dict[str, dict] = {}
    for chapter in chapters:
        entry = per_folder.setdefault(chapter.folder, {"utterances": 0, "frames": 0,
                                                       "speaker_ids": set(), "chapters": 0})
        entry["chapters"] += 1
        entry["speaker_ids"].add(chapter.speaker.id)
        for u in chapter.utt_ids():
            entry["utterances"] += 1
            entry["frames"] += frames[u]
    folders = {name: _summary([entry]) for name, entry in per_folder.items()}
    splits = {}
    for name, members in split_names(o).items():
        if all(m in per_folder for m in members):
            splits[name] = {"folders": members, **_summary([per_folder[m] for m in members])}
    return {
        "format": FORMAT,
        "complete": True,
        "seed": o.seed,
        "purpose": o.purpose,
        "settings": o.settings(),
        "sample_rate": tts.SAMPLE_RATE,
        "text": {"source": texts.SOURCE, "licence": texts.LICENCE,
                 "spoken_books": _spoken_books(o),
                 "dev_books": list(texts.DEV_BOOKS), "test_books": list(texts.TEST_BOOKS),
                 "pretrain_books": list(texts.PRETRAIN_BOOKS),
                 "lm_text": LM_TEXT},
        "splits": splits,
        "folders": folders,
    }


def _spoken_books(o: SynthOptions) -> dict[str, str]:
    """Which books each role's sentences come from, in words, for the report."""
    if o.purpose == "pretrain":
        return {"train": "pretrain_books",
                "dev and test": "pretrain_books (sentences the training parts do not say)"}
    return {"train": "every book not in dev_books, test_books or pretrain_books",
            "dev": "dev_books", "test": "test_books"}


def split_names(o: SynthOptions) -> dict[str, list[str]]:
    """Split name -> the folders it is made of, as `asrkit prepare` resolves them: 1h is
    every 1h fold made (the release has six), 10h is those plus 9h, 100h is
    train-clean-100 (train-other-500 is its own). Names whose folders were not all made
    are left out of the report."""
    names = {f"{side}-{subset}": [f"LibriSpeech/{side}-{subset}"]
             for side in ("dev", "test") for subset in ("clean", "other")}
    fold = lambda k: [f"librispeech_finetuning/1h/{k}/{s}" for s in ("clean", "other")]  # noqa: E731
    names["10min"] = fold(0)
    names["1h"] = [f for k in range(o.folds) for f in fold(k)]
    names["10h"] = names["1h"] + [f"librispeech_finetuning/9h/{s}" for s in ("clean", "other")]
    names["train-clean-100"] = names["100h"] = ["LibriSpeech/train-clean-100"]
    names["train-other-500"] = ["LibriSpeech/train-other-500"]
    return {name: folders for name, folders in names.items() if folders}


def _summary(entries: list[dict]) -> dict:
    ids = sorted(set().union(*(e["speaker_ids"] for e in entries)))
    frames = sum(e["frames"] for e in entries)
    return {"utterances": sum(e["utterances"] for e in entries),
            "seconds": round(frames / tts.SAMPLE_RATE, 3),
            "samples": frames,
            "speakers": len(ids),
            "chapters": sum(e["chapters"] for e in entries),
            "speaker_ids": ids}


def speakers_txt(chapters: list[Chapter], frames: dict[str, int]) -> str:
    """LibriSpeech's SPEAKERS.TXT: id, sex, first split the speaker reads, minutes, who."""
    first: dict[int, str] = {}
    seconds: dict[int, float] = defaultdict(float)
    speakers: dict[int, Speaker] = {}
    for chapter in chapters:
        sid = chapter.speaker.id
        speakers[sid] = chapter.speaker
        first.setdefault(sid, chapter.folder.split("/", 1)[1])
        for u in chapter.utt_ids():
            seconds[sid] += frames[u] / tts.SAMPLE_RATE
    lines = [";ID    |SEX| SUBSET                 |MINUTES| NAME\n"]
    for sid in sorted(speakers):
        lines.append(f"{sid:<7}| {speakers[sid].voice.sex} | {first[sid]:<22} | "
                     f"{seconds[sid] / 60:5.2f} | {speakers[sid].describe()}\n")
    return "".join(lines)
