"""Names given on the command line (an LM name, a result setting, a split) name one folder
inside asrkit's own: a path there would write outside it, so it is refused."""

from __future__ import annotations

import pytest

from asrkit.errors import SettingError
from asrkit.workspace import check_name

BAD = ["../../x", "/abs/path", "a/b", "..", ".", "", "a\\b", "nul\0"]


@pytest.mark.parametrize("name", BAD)
def test_a_path_is_not_a_name(name):
    with pytest.raises(SettingError, match="must be a plain name"):
        check_name(name, "setting")


@pytest.mark.parametrize("name", ["4gram", "librispeech-4gram", "4gram-pyctcdecode", "train-clean-100+train-other-500",
                                  "10min", "beam1500", "v1.2"])
def test_ordinary_names_pass(name):
    assert check_name(name, "name") == name


def test_decode_setting_and_split_stay_inside_the_model_folder(tmp_path):
    from asrkit.logits import cache_dir
    from asrkit.results import result_dir

    for split, setting in (("dev", "/abs/path"), ("dev", "../../x"), ("../x", "greedy")):
        with pytest.raises(SettingError):
            result_dir(tmp_path / "m", split, setting)
    with pytest.raises(SettingError):
        cache_dir(tmp_path / "m", "../../elsewhere")


def test_decode_cli_refuses_a_setting_that_is_a_path(tmp_path, capsys):
    from asrkit.cli import main
    from ctc_fixtures import peaky, write_cache

    write_cache(tmp_path / "m", "dev", ["HI"], [peaky("HI")])
    assert main(["decode", "--model", str(tmp_path / "m"), "--split", "dev", "--manifests", str(tmp_path),
                 "--setting", str(tmp_path / "outside")]) == 1
    assert "must be a plain name" in capsys.readouterr().err
    assert not (tmp_path / "outside").exists()


def test_lm_build_refuses_a_name_that_is_a_path(tmp_path, capsys):
    from asrkit.cli import main

    (tmp_path / "text.txt").write_text("HELLO WORLD\n")
    assert main(["lm", "build", "--text", str(tmp_path / "text.txt"), "--name", "../../escaped",
                 "--lm-dir", str(tmp_path / "lm" / "a")]) == 1
    assert "LM name '../../escaped' must be a plain name" in capsys.readouterr().err
    assert not (tmp_path / "escaped").exists()
