"""Print which asrkit modules each asrkit module imports, and flag arrows that go the wrong way.

Dependencies run one way (see README "Layout"): cli -> stages -> foundations. A module may
import one in its own layer or below, never above; the library never imports asrkit.cli.
Imports inside functions count too: a lazy import is still a dependency.

    python scripts/import_graph.py            # the graph, then the wrong-way arrows
    python scripts/import_graph.py --wrong    # only the wrong-way arrows (exit 1 if any)
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "asrkit"

# Layers, lowest first. A module's layer is that of the longest prefix listed here.
FOUNDATIONS = ("asrkit", "asrkit.errors", "asrkit.config", "asrkit.text",
               "asrkit.vocab", "asrkit.data.audio", "asrkit.io", "asrkit.workspace", "asrkit.download",
               "asrkit.results", "asrkit.paper", "asrkit.provenance")
CLI = ("asrkit.cli",)
LAYER_NAMES = ("foundation", "stage", "cli")


def layer(module: str) -> int:
    """0 foundation, 1 stage (everything not listed: data, model, train, logits, decode, lm, ...), 2 cli."""
    if module in FOUNDATIONS or any(module.startswith(f + ".") for f in FOUNDATIONS[1:]):
        return 0
    if module == "asrkit.__main__" or any(module == c or module.startswith(c + ".") for c in CLI):
        return 2  # `python -m asrkit` is the command line too
    return 1


def module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, package: Path, known: set[str]) -> set[str]:
    """The asrkit modules `path` imports, at any depth of the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module_name(path, package)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("asrkit"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                pkg = here.split(".") if path.name == "__init__.py" else here.split(".")[:-1]
                base = ".".join(pkg[:len(pkg) - node.level + 1] + ([base] if base else []))
            if not base.startswith("asrkit"):
                continue
            for a in node.names:  # `from asrkit import logits` names a module
                sub = f"{base}.{a.name}"
                out.add(sub if sub in known else base)
    out.discard(here)
    return out


def graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    files = sorted(package.rglob("*.py"))
    known = {module_name(p, package) for p in files}
    return {module_name(p, package): imports(p, package, known) for p in files}


def wrong_way(g: dict[str, set[str]]) -> list[tuple[str, str]]:
    return [(m, d) for m, deps in sorted(g.items()) for d in sorted(deps) if layer(d) > layer(m)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wrong", action="store_true", help="print only the wrong-way arrows")
    parser.add_argument("--package", type=Path, default=PACKAGE, help="the asrkit folder to read")
    args = parser.parse_args(argv)
    g = graph(args.package.resolve())
    if not args.wrong:
        for m, deps in sorted(g.items()):
            print(f"{m} [{LAYER_NAMES[layer(m)]}] -> {', '.join(sorted(deps)) or '-'}")
        print()
    bad = wrong_way(g)
    for m, d in bad:
        print(f"WRONG WAY: {m} [{LAYER_NAMES[layer(m)]}] -> {d} [{LAYER_NAMES[layer(d)]}]")
    print(f"{sum(map(len, g.values()))} arrows between {len(g)} modules; {len(bad)} wrong way")
    return 1 if bad and args.wrong else 0


if __name__ == "__main__":
    sys.exit(main())
