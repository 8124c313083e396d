"""Options no run can use are refused up front in one line naming the option: an infinite
tuning range, a device torch has no backend for, a decoder whose package is not installed."""

from __future__ import annotations

import pytest

from asrkit.errors import DecodeError, SettingError


@pytest.mark.parametrize("ranges", [{"weight_range": (0.0, float("inf"))}, {"score_range": (float("-inf"), 1.0)},
                                    {"weight_range": (float("nan"), 1.0)}])
def test_a_tuning_range_that_is_not_finite_is_refused(ranges):
    from asrkit.decode.tune import TuneOptions

    with pytest.raises(SettingError, match=r"must be finite numbers"):
        TuneOptions(**ranges).check()


@pytest.mark.parametrize("device", ["tpu", "", "gpu", "cuda:x"] + ["mps"] * (not __import__("torch").backends.mps.is_available()))
def test_a_device_torch_cannot_use_is_refused_before_the_model_loads(device):
    from asrkit.inference import LogitsOptions

    with pytest.raises(SettingError, match=rf"`device` {device!r}: choose auto, cpu, cuda or cuda:N"):
        LogitsOptions(device=device).check()


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1"])
def test_the_devices_torch_knows_pass(device):
    from asrkit.inference import LogitsOptions

    LogitsOptions(device=device).check()


def test_pyctcdecode_not_installed_is_a_message(monkeypatch, tmp_path):
    import importlib.util

    from asrkit.decode.setup import DecoderChoice, setup_decoder

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyctcdecode" else real(name, *a))
    monkeypatch.setitem(__import__("sys").modules, "pyctcdecode", None)  # `import pyctcdecode` fails too
    with pytest.raises(DecodeError, match=r"needs the pyctcdecode package \(pip install pyctcdecode\)"):
        setup_decoder(tmp_path, DecoderChoice(decoder="pyctcdecode"))
