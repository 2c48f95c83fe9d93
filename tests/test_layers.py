"""Imports point down: every module imports only from layers below its own (docs/design.md).

A layer is a package (``data``, ``serve``...) or a top-level module; a package may import its
own modules freely. Imports inside functions count too: a lazy import is still a dependency.
"""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "instrumentid"

#: Lowest first; the same picture as docs/design.md.
LAYERS = (
    ("errors",),
    ("labels", "fileio", "extras"),
    ("audio",),
    ("frontends",),
    ("models",),
    ("data", "synth"),
    ("inference",),
    ("evaluation",),
    ("training", "analysis"),
    ("serve",),
    ("cli",),
)
LEVEL = {unit: level for level, units in enumerate(LAYERS) for unit in units}


def _unit(module: str) -> str:
    """``instrumentid.data.split`` -> ``data``; ``instrumentid`` (the package face) -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path):
    """``(line, module)`` of every instrumentid import in ``path`` (``from instrumentid import x``
    counts as an import of ``instrumentid.x`` when ``x`` is a module)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names if alias.name.startswith("instrumentid."))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "instrumentid":
            if node.module != "instrumentid":
                yield node.lineno, node.module
            for alias in node.names:
                target = SRC.joinpath(*node.module.split(".")[1:], alias.name)
                if target.with_suffix(".py").is_file() or target.is_dir():
                    yield node.lineno, f"{node.module}.{alias.name}"


def test_every_module_is_in_a_layer():
    units = {
        p.stem if p.is_file() else p.name
        for p in SRC.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    assert units == set(LEVEL), "add the new module to LAYERS here and to docs/design.md"


def test_imports_point_down():
    upward = []
    for path in sorted(SRC.rglob("*.py")):
        source = ".".join(("instrumentid", *path.relative_to(SRC).with_suffix("").parts))
        here = _unit(source.removesuffix(".__init__"))
        if here == "":  # the package face (__version__, load_model) sits above everything
            continue
        for line, module in _imports(path):
            there = _unit(module)
            if there and there != here and LEVEL[there] >= LEVEL[here]:
                upward.append(f"{path.relative_to(SRC.parent)}:{line} {here} imports {module}")
    assert not upward, "\n".join(upward)


#: Longest function allowed in ``src/``, ``recipes/`` and ``benchmarks/``, counted in statements
#: (the lines on which a statement starts, so ``ruff format`` wrapping a call over several lines
#: does not change the count): longer ones are split where a step has a name of its own. A
#: recipe's ``main`` is held to it too: it should read as a short list of named steps.
MAX_FUNCTION_LINES = 60
#: Where the limit holds.
LIMITED = (SRC, SRC.parents[1] / "recipes", SRC.parents[1] / "benchmarks")


def _statement_lines(function: ast.AST) -> int:
    return len({node.lineno for node in ast.walk(function) if isinstance(node, ast.stmt)})


def test_no_function_is_longer_than_the_limit():
    long = [
        f"{path.relative_to(SRC.parents[1])}:{node.lineno} {node.name} ({_statement_lines(node)} statement lines)"
        for folder in LIMITED
        for path in folder.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _statement_lines(node) > MAX_FUNCTION_LINES
    ]
    assert not long, "split these functions:\n" + "\n".join(long)
