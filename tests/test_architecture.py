"""The package's shape: no import cycle, imports at the top, modules of a readable size.

Imports are read from the source (module level and inside functions), so a cycle that only a
function-local import closes fails here too.
"""
import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "gradarray"
MAX_LINES = 720


def _modules():
    """{dotted module name: path} for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(module, path, node):
    """The gradarray modules an import statement in ``module`` loads (none for other packages)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in MODULES]
    if node.level:
        base = package
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        base = f"{base}.{node.module}" if node.module else base
    else:
        base = node.module or ""
    if base not in MODULES:
        return []
    targets = []
    for alias in node.names:          # `from . import linalg` loads the submodule itself
        sub = f"{base}.{alias.name}"
        targets.append(sub if sub in MODULES else base)
    return targets


def import_graph():
    graph = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        edges = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges.update(t for t in _resolve(module, path, node) if t != module)
        graph[module] = edges
    return graph


def find_cycle(graph):
    """One import cycle as a list of modules, or None (depth-first search, colouring)."""
    state = {}
    stack = []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if state.get(t) == "open":
                return stack[stack.index(t):] + [t]
            if t not in state:
                found = visit(t)
                if found:
                    return found
        stack.pop()
        state[m] = "done"
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_cycle_finder_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle_in_the_package():
    graph = import_graph()
    assert "gradarray._dispatch" in graph["gradarray._registry"]     # the walk sees real edges
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def _is_import_block(stmt):
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return True
    # `try: import scipy ... except ImportError: ...` at the top counts as imports
    return isinstance(stmt, ast.Try) and all(
        _is_import_block(s) or isinstance(s, ast.Pass)
        for s in stmt.body + stmt.orelse + [s for h in stmt.handlers for s in h.body])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_level_imports_at_the_top(module):
    body = ast.parse(MODULES[module].read_text()).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]                # the docstring
    seen_code = None
    for stmt in body:
        if _is_import_block(stmt):
            assert seen_code is None, (
                f"{module}: import at line {stmt.lineno} comes after code at line {seen_code}")
        elif seen_code is None:
            seen_code = stmt.lineno


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_opens_with_a_docstring_and_stays_readable(module):
    path = MODULES[module]
    text = path.read_text()
    assert ast.get_docstring(ast.parse(text)), f"{module} has no module docstring"
    assert text.count("\n") <= MAX_LINES, f"{module} has {text.count(chr(10))} lines (> {MAX_LINES})"
