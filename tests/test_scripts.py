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


def test_import_graph_places_every_module_with_no_arrow_up_and_no_circle():
    graph = load("import_graph")
    g = graph.graph()
    assert len(g) > 70 and "asrkit.audio" in g and "asrkit.decode.run" in g  # every module is read
    assert graph.unplaced(g) == []
    assert graph.wrong_way(g) == []
    assert graph.circles(g) == []


def fake_package(root: Path, modules: dict[str, str]) -> Path:
    """An asrkit folder holding `modules` ({"decode/run.py": source}), with __init__ files."""
    pkg = root / "asrkit"
    for name, source in {"__init__.py": "", **modules}.items():
        path = pkg / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent != pkg and not (path.parent / "__init__.py").exists():
            (path.parent / "__init__.py").write_text("")
        path.write_text(source)
    return pkg


def test_import_graph_sees_an_arrow_up_even_a_lazy_one(tmp_path):
    graph = load("import_graph")
    pkg = fake_package(tmp_path, {"cli/__init__.py": "", "io.py": "def f():\n    from asrkit.cli import main\n",
                                  "vocab.py": "from asrkit.decode import x\n", "decode/greedy.py": "import asrkit.io\n"})
    assert graph.wrong_way(graph.graph(pkg)) == [("asrkit.io", "asrkit.cli"), ("asrkit.vocab", "asrkit.decode")]


def test_import_graph_finds_circles_and_unplaced_modules(tmp_path, capsys):
    graph = load("import_graph")
    pkg = fake_package(tmp_path, {
        "decode/run.py": "from asrkit.decode.setup import s\n",
        "decode/setup.py": "def f():\n    from asrkit.decode import tune\n",  # lazy, still an arrow
        "decode/tune.py": "from . import run\n",  # relative
        "decode/greedy.py": "from asrkit.decode.setup import s\n",  # into the circle, not part of it
        "gadgets.py": "import asrkit.io\n", "io.py": ""})
    g = graph.graph(pkg)
    assert graph.circles(g) == [["asrkit.decode.run", "asrkit.decode.setup", "asrkit.decode.tune", "asrkit.decode.run"]]
    assert graph.unplaced(g) == ["asrkit.gadgets"]
    assert graph.main(["--wrong", "--package", str(pkg)]) == 1
    out = capsys.readouterr().out
    assert "CIRCLE: asrkit.decode.run -> asrkit.decode.setup -> asrkit.decode.tune -> asrkit.decode.run" in out
    assert "UNPLACED: asrkit.gadgets" in out and "1 circles, 0 arrows up, 1 unplaced" in out
