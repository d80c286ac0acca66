"""The package's layout: no module imports another's private names, and no import circles."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "seglab"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _absolute(module: str, node: ast.ImportFrom) -> str:
    """The absolute module an ImportFrom in ``module`` names."""
    if not node.level:
        return node.module or ""
    package = module.split(".")
    if not MODULES[module].name == "__init__.py":
        package = package[:-1]
    package = package[: len(package) - node.level + 1]
    return ".".join([*package, *([node.module] if node.module else [])])


def _imports(module: str, top_level_only: bool):
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            yield _absolute(module, node), [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []


def test_no_module_imports_another_modules_private_names():
    offences = []
    for module in MODULES:
        for source, names in _imports(module, top_level_only=False):
            if not source.startswith("seglab"):
                continue
            for name in names:
                # a private submodule of a package (seglab._threads) is the package's own
                is_module = f"{source}.{name}" in MODULES
                if name.startswith("_") and not name.startswith("__") and not is_module:
                    offences.append(f"{module} imports {source}.{name}")
    assert not offences, offences


def test_no_import_circles():
    # imports inside functions count too: a lazy import is still a dependency
    graph = {}
    for module in MODULES:
        targets = set()
        for source, names in _imports(module, top_level_only=False):
            if not source.startswith("seglab"):
                continue
            for candidate in [f"{source}.{n}" for n in names] + [source]:
                if candidate in MODULES and candidate != module:
                    targets.add(candidate)
                    break
        graph[module] = targets

    # a package's __init__ importing its own submodules is how packages work: not a circle
    def edges(module):
        return {t for t in graph[module] if not module.startswith(t + ".")}

    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module):
        state[module] = 1
        path.append(module)
        for target in edges(module):
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_the_checks_see_a_private_import_and_a_circle(tmp_path, monkeypatch):
    # the two checks above must be able to fail: a made-up package with both faults
    fake = {
        "seglab.a": "from .b import _hidden\n",
        "seglab.b": "from . import a\n_hidden = 1\n",
    }
    for name, text in fake.items():
        path = tmp_path / f"{name.split('.')[-1]}.py"
        path.write_text(text)
        monkeypatch.setitem(MODULES, name, path)
    import pytest

    with pytest.raises(AssertionError, match="seglab.a imports seglab.b._hidden"):
        test_no_module_imports_another_modules_private_names()
    with pytest.raises(AssertionError, match="import circle"):
        test_no_import_circles()
