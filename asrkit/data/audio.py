"""The old home of audio reading, kept so that `from asrkit.data.audio import load_audio`
still works: the reader is a foundation (asrkit.audio), below vocab and every stage."""

from asrkit.audio import SAMPLE_RATE, audio_info, load_audio

__all__ = ["SAMPLE_RATE", "audio_info", "load_audio"]
