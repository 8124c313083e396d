"""The helper scripts in scripts/ that are not part of the package."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_recogs(path: Path, rows: list[tuple[str, str, str]]) -> None:
    path.mkdir(parents=True)
    path.joinpath("recogs.jsonl").write_text(
        "".join(json.dumps({"id": uid, "ref": ref, "hyp": hyp}) + "\n" for uid, ref, hyp in rows))


def test_lm_gain_by_cer_bins_utterances_by_their_greedy_cer(tmp_path, capsys, monkeypatch):
    decode = tmp_path / "decode" / "test-clean"
    # u1: greedy perfect (CER 0); u2: greedy CER 4/10 = 0.4, the LM repairs it.
    write_recogs(decode / "greedy", [("u1", "AB CD", "AB CD"), ("u2", "ABCD EFGHI", "ABXD EXYZI")])
    write_recogs(decode / "4gram", [("u1", "AB CD", "AB CD"), ("u2", "ABCD EFGHI", "ABCD EFGHI")])
    monkeypatch.setattr(sys, "argv", ["lm_gain_by_cer.py", str(tmp_path)])
    load("lm_gain_by_cer").main()
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "| [0.0, 0.1) | 1 | 0.0 | 0.0 | 0.0 |"
    assert lines[3] == "| [0.4, 0.5) | 1 | 40.0 | 100.0 | 0.0 |"
    assert len(lines) == 4


def test_lm_gain_by_cer_names_a_model_without_both_decodes(tmp_path):
    write_recogs(tmp_path / "decode" / "dev-clean" / "greedy", [("u1", "A", "A")])
    with pytest.raises(SystemExit, match="no split decoded both greedy and with '4gram'"):
        load("lm_gain_by_cer").paired(tmp_path, "4gram")


def test_import_graph_has_no_arrow_against_cli_stages_foundations(tmp_path):
    graph = load("import_graph")
    assert graph.wrong_way(graph.graph()) == []
    # and it does see one: a foundation that imports the CLI
    pkg = tmp_path / "asrkit"
    (pkg / "cli").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "cli" / "__init__.py").write_text("")
    (pkg / "io.py").write_text("def f():\n    from asrkit.cli import main\n")
    assert graph.wrong_way(graph.graph(pkg)) == [("asrkit.io", "asrkit.cli")]
