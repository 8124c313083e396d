"""The paper's decoding settings: `decode --paper` (beam 1,500), `tune-lm --paper` (128 trials at
beam 500 over lm weight [0, 5] and word score [-5, 5]), cheaper defaults otherwise, and the
report saying which were used."""

from __future__ import annotations

import pytest

from asrkit import cli, paper
from asrkit.cli.decode import apply_paper_beam
from asrkit.errors import SettingError
from asrkit.report.markdown import beam_note, tuning_lines


def parse(*argv):
    return cli.build_parser().parse_args(list(argv))


def test_paper_values_are_the_papers():
    assert (paper.TEST_BEAM, paper.TUNE_BEAM, paper.TUNE_TRIALS) == (1500, 500, 128)
    assert (paper.TUNE_WEIGHT_RANGE, paper.TUNE_SCORE_RANGE) == ((0.0, 5.0), (-5.0, 5.0))


def test_decode_paper_sets_beam_1500_unless_a_beam_is_given():
    args = parse("decode", "--model", "m", "--split", "test-other", "--lm", "4gram", "--paper")
    apply_paper_beam(args, paper.TEST_BEAM)
    assert args.beam == 1500
    args = parse("decode", "--model", "m", "--split", "test-other", "--lm", "4gram", "--paper", "--beam", "50")
    apply_paper_beam(args, paper.TEST_BEAM)
    assert args.beam == 50
    cheap = parse("decode", "--model", "m", "--split", "test-other", "--lm", "4gram")
    apply_paper_beam(cheap, paper.TEST_BEAM)
    assert cheap.beam is None  # the decoder's own default


def test_paper_without_an_lm_is_refused():
    args = parse("decode", "--model", "m", "--split", "test-other", "--paper")
    with pytest.raises(SettingError, match="--lm"):
        apply_paper_beam(args, paper.TEST_BEAM)


def test_tune_lm_paper_runs_128_trials_at_beam_500():
    from asrkit.cli.tune_lm import trials_of

    for argv, trials, beam in ((["--paper"], 128, 500), ([], 64, None), (["--paper", "--trials", "10"], 10, 500)):
        args = parse("tune-lm", "--model", "m", "--lm", "4gram", *argv)
        apply_paper_beam(args, paper.TUNE_BEAM)
        assert (trials_of(args), args.beam) == (trials, beam)
        assert (tuple(args.weight_range), tuple(args.score_range)) == (paper.TUNE_WEIGHT_RANGE, paper.TUNE_SCORE_RANGE)


def test_the_report_says_which_decoding_settings_were_used():
    assert beam_note({"name": "flashlight", "beam": 1500}) == "; beam 1500 (the paper's test setting)"
    assert beam_note({"name": "flashlight", "beam": 500}) == "; beam 500 (the paper's: 1500)"
    assert beam_note({"name": "greedy"}) == ""

    class Model:
        name = "base-10min"
        tuning = ({"lm": "4gram", "decoder": "flashlight", "split": "dev-other", "beam": 500,
                   "trials": [{}] * 128, "ranges": {"lm_weight": [0, 5], "word_score": [-5, 5]}},
                  {"lm": "4gram", "decoder": "pyctcdecode", "split": "dev-other", "beam": 100, "trials": [{}] * 64})

    paper_line, cheap_line = tuning_lines([Model()])
    assert "128 trials at beam 500 over lm_weight [0, 5], word_score [-5, 5] (the paper's setting)" in paper_line
    assert "64 trials at beam 100 (the paper: 128 trials at beam 500" in cheap_line


# The commands themselves, not the helper they call: `--paper` must reach decode's and tune-lm's
# run (a review once left both ignoring it while the helper's tests above still passed). Without
# an LM the paper's settings mean nothing, and the command says so before it reads anything.
@pytest.mark.parametrize("command", ["decode", "tune-lm"])
def test_the_command_honours_paper(command, tmp_path, capsys):
    model = tmp_path / "model"
    model.mkdir()
    argv = [command, "--model", str(model), "--split", "dev-other", "--manifests", str(tmp_path / "none")]
    assert cli.main(argv + ["--paper"]) == 1
    assert "--paper sets the paper's beam-search settings: give --lm" in capsys.readouterr().err
    # Without --paper the same command goes on (and fails later, on the empty model folder).
    try:
        cli.main(argv)
    except Exception:
        pass
    assert "--paper sets" not in capsys.readouterr().err
