"""Import rules (read from the source with ast, so lazy imports inside functions count too):
bot/ does not import handlers/ except the wiring (bot/app.py); faq/ imports nothing of the
project; handlers/ never import a channel SDK or a channel; module-level imports have no
cycle."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WIRING = {"bot.app"}
CHANNEL_SDKS = ("telegram", "starlette", "uvicorn", "httpx", "aiogram", "fastapi", "bot.channels")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    nodes = tree.body if top_level_only else ast.walk(tree)
    found: set[str] = set()
    package = (
        module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    )
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                prefix = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{prefix}.{base}" if base else prefix
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def sources(folder: str) -> list[Path]:
    return sorted(REPO.joinpath(folder).rglob("*.py"))


def under(name: str, *roots: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in roots)


def test_bot_does_not_import_handlers_except_the_wiring():
    offenders = {
        module_name(p): sorted(n for n in imports(p) if under(n, "handlers"))
        for p in sources("bot")
        if module_name(p) not in WIRING
    }
    assert {m: n for m, n in offenders.items() if n} == {}


def test_faq_imports_nothing_of_the_project():
    offenders = {
        module_name(p): sorted(n for n in imports(p) if under(n, "bot", "handlers"))
        for p in sources("faq")
    }
    assert {m: n for m, n in offenders.items() if n} == {}


def test_handlers_never_import_a_channel_sdk():
    offenders = {
        module_name(p): sorted(n for n in imports(p) if under(n, *CHANNEL_SDKS))
        for p in sources("handlers")
    }
    assert {m: n for m, n in offenders.items() if n} == {}


def test_module_level_imports_have_no_cycle():
    modules = {module_name(p): p for d in ("bot", "handlers", "faq") for p in sources(d)}
    graph = {
        name: {n for n in imports(path, top_level_only=True) if n in modules and n != name}
        for name, path in modules.items()
    }
    cycles = []
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append(
                    [*trail[trail.index(target) :], target] if target in trail else [name, target]
                )
            elif target not in state:
                visit(target, [*trail, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_the_rules_see_a_violation():
    """The walker finds an import inside a function, as the bot/ → handlers/ rule needs."""
    sample = REPO / "bot" / "app.py"
    assert any(under(n, "handlers") for n in imports(sample))
