"""The package's shape, checked from the source: layered imports, module sizes, no issue numbers.

Every module of ``salanalysis`` belongs to one layer below; a module imports
(at the top or inside a function) only modules of lower layers, or of its own
package within the same layer, and the whole import graph has no cycle. A new
module must be given a layer here (CONTRIBUTING.md explains the layers).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "salanalysis"

#: Lowest first. "x.*" stands for the package x and every module below it.
LAYERS: list[set[str]] = [
    {"errors", "_progress", "_pool"},
    {"limits"},  # size limits: raise InputError, so above errors, below everything that reads
    {"", "formatting", "io", "_cluster", "_coco_fields"},  # "" is salanalysis/__init__.py
    {"_coco_stream"},  # the streaming COCO reader: below coco, above _coco_fields
    {"results", "images", "coco", "demo", "_masks", "_bootstrap", "_fixation_checks", "_table_checks", "_ranking_blocks"},
    {"maps.*", "scores", "metrics.rules", "subsets"},
    {"metrics.*", "baselines", "salicon", "_objects_worker"},
    {"objects", "saliency_metrics", "score_baselines", "overview", "stats.*", "clutter.*", "config", "permutation", "gallery",
     "report_sections", "report_style", "figure_tables"},
    {"compare", "plotting.*", "report", "objects_run"},
    {"figures", "findings", "dualstream.*"},
    {"reproduce.*"},
    {"commands.*"},
    {"cli"},
    {"__main__"},
]


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = p.relative_to(PKG).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _layer(module: str) -> int:
    best, best_len = None, -1
    for i, layer in enumerate(LAYERS):
        for pat in layer:
            if pat.endswith(".*"):
                base = pat[:-2]
                if (module == base or module.startswith(base + ".")) and len(base) > best_len:
                    best, best_len = i, len(base)
            elif module == pat and len(pat) + 1 > best_len:  # an exact name beats a package pattern
                best, best_len = i, len(pat) + 1
    if best is None:
        raise AssertionError(f"salanalysis.{module} has no layer in tests/test_architecture.py")
    return best


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "salanalysis" or node.module.startswith("salanalysis."):
                base = node.module[len("salanalysis"):].lstrip(".")
                for a in node.names:
                    sub = f"{base}.{a.name}" if base else a.name
                    names.append(sub if sub in modules else base)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "salanalysis" or a.name.startswith("salanalysis."):
                    names.append(a.name[len("salanalysis"):].lstrip("."))
        out.update(names)
    return out


def _same_package(a: str, b: str) -> bool:
    top = a.split(".")[0]
    return top == b.split(".")[0] and (PKG / top).is_dir()


def test_imports_only_point_downward_and_have_no_cycle():
    modules = _modules()
    graph = {m: _imports(p, modules) - {m} for m, p in modules.items()}
    upward = []
    for m, targets in graph.items():
        for t in targets:
            lm, lt = _layer(m), _layer(t)
            if lt > lm or (lt == lm and not _same_package(m, t)):
                upward.append(f"salanalysis.{m} (layer {lm}) imports salanalysis.{t} (layer {lt})")
    assert not upward, "\n".join(sorted(upward))
    # no cycle, also inside a package
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in graph.get(m, ()):
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*stack, m, t]))
            if t not in state:
                visit(t, [*stack, m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


def test_the_layer_check_can_fail(tmp_path):
    # a planted upward import is found by the same helpers
    fake = tmp_path / "m.py"
    fake.write_text("def f():\n    from salanalysis.reproduce import reproduce\n", encoding="utf-8")
    modules = _modules()
    assert _imports(fake, modules) == {"reproduce"}
    assert _layer("reproduce") > _layer("metrics.table")


@pytest.mark.parametrize("path", sorted(PKG.rglob("*.py")), ids=lambda p: str(p.relative_to(PKG)))
def test_no_module_is_large(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= 720, f"{path.relative_to(ROOT)} has {n} lines: split it by concern"


def test_no_issue_numbers_in_code_or_docs():
    pattern = re.compile(r"\b[Ii]ssues? #?\d+")
    files = [p for p in (*PKG.rglob("*.py"), *(ROOT / "tests").rglob("*.py"), *(ROOT / "benchmarks").glob("*.py"),
                         *ROOT.glob("*.md"), *(ROOT / "analyses").glob("*"), *(ROOT / "figures").glob("*.md"))
             if p.is_file()]
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in files
            for i, line in enumerate(p.read_text(encoding="utf-8", errors="ignore").splitlines(), 1)
            if pattern.search(line)]
    assert not hits, "issue numbers in: " + ", ".join(hits)
