"""Print which asrkit modules each asrkit module imports; flag arrows that point up and circles.

Dependencies run one way (see README "Layout"): cli -> stages -> foundations. Every module
is counted: its layer is the layer of its top-level name (asrkit.decode.run is a stage
because asrkit.decode is), a module may import one in its own layer or below, never above,
and a top-level name placed in no layer is an error, so a new module is placed on purpose.
Imports inside functions count too: a lazy import is still a dependency. A circle is a set
of modules that reach each other through their imports (at any layer, lazy or not).

    python scripts/import_graph.py            # the graph, then what is wrong
    python scripts/import_graph.py --wrong    # only what is wrong (exit 1 if anything is)
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "asrkit"

# Top-level names of each layer, lowest first. "asrkit" is the package itself.
FOUNDATIONS = ("asrkit", "errors", "config", "text", "vocab", "audio", "io", "workspace", "download",
               "results", "paper", "provenance", "hypotheses", "ctc", "masks", "schedule", "metrics", "precision", "locks")
STAGES = ("data", "model", "runs", "feature_cache", "train", "pretrain", "inference", "logits", "decode", "rescore", "lm", "score",
          "report", "transcribe", "transcripts", "demo")
CLI = ("cli", "__main__")
LAYERS = (FOUNDATIONS, STAGES, CLI)
LAYER_NAMES = ("foundation", "stage", "cli")
UNPLACED = -1


def layer(module: str) -> int:
    """0 foundation, 1 stage, 2 cli (`python -m asrkit` is the command line too); UNPLACED
    when the module's top-level name is in no layer."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "asrkit"
    return next((i for i, names in enumerate(LAYERS) if top in names), UNPLACED)


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
    """(importer, imported) for every arrow that points up a layer."""
    return [(m, d) for m, deps in sorted(g.items()) for d in sorted(deps)
            if UNPLACED not in (layer(m), layer(d)) and layer(d) > layer(m)]


def unplaced(g: dict[str, set[str]]) -> list[str]:
    """Modules whose top-level name is in no layer."""
    return sorted(m for m in g if layer(m) == UNPLACED)


def circles(g: dict[str, set[str]]) -> list[list[str]]:
    """Each circle as one closed path through it, [a, b, ..., a]: one per strongly
    connected set of modules (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            members = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                members.add(w)
                if w == v:
                    break
            if len(members) > 1:
                found.append(_closed_path(g, min(members), members))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return sorted(found)


def _closed_path(g: dict[str, set[str]], start: str, members: set[str]) -> list[str]:
    """The shortest path from `start` back to itself inside `members` (breadth first)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        step = []
        for v in frontier:
            for w in sorted(g.get(v, ()) & members):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if w not in previous:
                    previous[w] = v
                    step.append(w)
        frontier = step
    return [start]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wrong", action="store_true", help="print only what is wrong; exit 1 if anything is")
    parser.add_argument("--package", type=Path, default=PACKAGE, help="the asrkit folder to read")
    args = parser.parse_args(argv)
    g = graph(args.package.resolve())
    name = lambda m: LAYER_NAMES[layer(m)] if layer(m) != UNPLACED else "unplaced"  # noqa: E731
    if not args.wrong:
        for m, deps in sorted(g.items()):
            print(f"{m} [{name(m)}] -> {', '.join(sorted(deps)) or '-'}")
        print()
    up, loops, lost = wrong_way(g), circles(g), unplaced(g)
    for m in lost:
        print(f"UNPLACED: {m} (add its top-level name to a layer in {Path(__file__).name})")
    for m, d in up:
        print(f"ARROW UP: {m} [{name(m)}] -> {d} [{name(d)}]")
    for path in loops:
        print(f"CIRCLE: {' -> '.join(path)}")
    print(f"{len(g)} modules, {sum(map(len, g.values()))} arrows: {len(loops)} circles, {len(up)} arrows up, "
          f"{len(lost)} unplaced")
    return 1 if (up or loops or lost) and args.wrong else 0


if __name__ == "__main__":
    sys.exit(main())
