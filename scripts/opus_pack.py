"""Pack a LibriSpeech-layout corpus as Ogg/Opus to move it to another machine, and back.

The pretraining corpus (4.2 h, 271 MB of FLAC) is too big for the 64 MiB that travels to a
lent GPU machine; Opus at soundfile's compression_level 0.97 (about 14.6 kbps, wideband
kept) makes it 38 MB. Transcripts and reports are copied as they are.

    python scripts/opus_pack.py pack   work/pretrain-corpus .exp/pc [jobs]
    python scripts/opus_pack.py unpack .exp/pc work/pretrain-corpus [jobs]   # back to 16-bit FLAC
"""

import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import soundfile as sf


def _encode(pair):
    audio, rate = sf.read(pair[0], dtype="float32")
    sf.write(pair[1], audio, rate, format="OGG", subtype="OPUS", compression_level=0.97)


def _decode(pair):
    audio, rate = sf.read(pair[0], dtype="float32")
    sf.write(pair[1], audio, rate, format="FLAC", subtype="PCM_16")


def main(mode: str, src: str, dst: str, jobs: int = 2) -> None:
    src_dir, dst_dir = Path(src), Path(dst)
    suffix_in, suffix_out = (".flac", ".ogg") if mode == "pack" else (".ogg", ".flac")
    pairs = []
    for path in src_dir.rglob("*"):
        if path.is_dir():
            continue
        target = dst_dir / path.relative_to(src_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == suffix_in:
            pairs.append((str(path), str(target.with_suffix(suffix_out))))
        else:
            shutil.copy(path, target)
    with ProcessPoolExecutor(jobs) as pool:
        list(pool.map(_encode if mode == "pack" else _decode, pairs, chunksize=64))
    print(f"{mode}: {len(pairs)} files")


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[1] not in ("pack", "unpack"):
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 2)
