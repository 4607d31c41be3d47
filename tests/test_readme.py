"""The README's settings table names exactly the environment variables settings.py reads.

settings.py is read as source (ast), not imported: what counts is every place it reads the
environment, whichever branch a given machine takes. A variable read through a helper of
settings.py (a function passing its parameter on to the environment) counts as well.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SETTINGS = ROOT / "opsportal" / "settings.py"
MAX_README_LINES = 200

# os.environ methods that read a variable (setdefault and pop read it too).
ENVIRON_READS = {"get", "setdefault", "pop", "__getitem__", "__contains__"}
# django-environ Env methods whose first argument is not a variable name.
ENV_NOT_A_READ = {"read_env", "smart_cast", "parse_value"}


def _dotted(node: ast.expr) -> str:
    """'os.environ.get' for the expression os.environ.get; '' for anything that is not a plain name chain."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


class EnvironmentReads:
    """The variables a settings module reads, found in its source."""

    def __init__(self, source: str) -> None:
        self.tree = ast.parse(source)
        self.env_objects = self._env_objects()
        self.helpers: dict[str, int] = {}
        self._find_helpers()
        self.names: set[str] = set()
        self.unresolved: list[str] = []
        self._collect(self.tree, params=())

    def _env_objects(self) -> set[str]:
        """Names bound to a django-environ Env (env = environ.Env(...))."""
        names = set()
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                if _dotted(node.value.func) in ("environ.Env", "Env"):
                    names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
        return names

    def _is_direct_read(self, call: ast.Call) -> bool:
        name = _dotted(call.func)
        if name in ("os.getenv", "getenv"):
            return True
        head, _, method = name.rpartition(".")
        if head in ("os.environ", "environ") and method in ENVIRON_READS:
            return True
        # env("X", ...) and every Env method: env.str, env.bool, env.int, env.float, env.list, env.db, ...
        return name in self.env_objects or (head in self.env_objects and method not in ENV_NOT_A_READ)

    def _name_argument(self, call: ast.Call, position: int) -> ast.expr | None:
        if len(call.args) > position:
            return call.args[position]
        keywords = {keyword.arg: keyword.value for keyword in call.keywords}
        return keywords.get("var", keywords.get("name", keywords.get("key")))

    def _read_position(self, call: ast.Call) -> int | None:
        """Which argument of this call names a variable, if the call reads the environment."""
        if self._is_direct_read(call):
            return 0
        if isinstance(call.func, ast.Name) and call.func.id in self.helpers:
            return self.helpers[call.func.id]
        return None

    def _find_helpers(self) -> None:
        """Module functions that read the variable one of their parameters names, with that position
        (repeated until no more are found: a helper may call another)."""
        functions = [node for node in self.tree.body if isinstance(node, ast.FunctionDef)]
        changed = True
        while changed:
            changed = False
            for function in functions:
                if function.name in self.helpers:
                    continue
                params = [arg.arg for arg in function.args.args]
                for call in (node for node in ast.walk(function) if isinstance(node, ast.Call)):
                    position = self._read_position(call)
                    argument = None if position is None else self._name_argument(call, position)
                    if isinstance(argument, ast.Name) and argument.id in params:
                        self.helpers[function.name] = params.index(argument.id)
                        changed = True
                        break

    def _collect(self, node: ast.AST, params: tuple[str, ...]) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            params = tuple(arg.arg for arg in node.args.args)
        if isinstance(node, ast.Call):
            position = self._read_position(node)
            if position is not None:
                self._record(self._name_argument(node, position), params, node)
        elif isinstance(node, ast.Subscript) and _dotted(node.value) in ("os.environ", "environ"):
            self._record(node.slice, params, node)
        elif isinstance(node, ast.Compare) and any(_dotted(c) in ("os.environ", "environ") for c in node.comparators):
            self._record(node.left, params, node)
        for child in ast.iter_child_nodes(node):
            self._collect(child, params)

    def _record(self, argument: ast.expr | None, params: tuple[str, ...], node: ast.AST) -> None:
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            self.names.add(argument.value)
        elif isinstance(argument, ast.Name) and argument.id in params:
            pass  # inside a helper: its callers name the variable
        else:
            self.unresolved.append(f"line {node.lineno}: {ast.unparse(node)}")


def section(text: str, heading: str) -> list[str]:
    """The lines under a '## heading', up to the next heading of that level."""
    lines = text.splitlines()
    assert f"## {heading}" in lines, f"README.md has no '## {heading}' section"
    start = lines.index(f"## {heading}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def settings_table(readme: str) -> list[tuple[str, ...]]:
    """The rows of the '| variable | default | meaning |' table under '## Settings', as cells."""
    lines = section(readme, "Settings")
    header = next(i for i, line in enumerate(lines) if re.fullmatch(r"\|\s*variable\s*\|.*\|\s*", line))
    rows = []
    for line in lines[header + 2 :]:  # past the header and its --- line
        if not line.startswith("|"):
            break
        rows.append(tuple(cell.strip() for cell in line.strip().strip("|").split("|")))
    return rows


def readme_variables(readme: str) -> list[str]:
    """Every variable named in the first cell of a settings row, in order (duplicates kept)."""
    names = []
    for row in settings_table(readme):
        found = re.findall(r"`([A-Z][A-Z0-9_]*)`", row[0])
        assert found, f"a settings row names no variable in its first cell: {row}"
        names.extend(found)
    return names


def test_the_settings_table_names_exactly_what_settings_py_reads():
    reads = EnvironmentReads(SETTINGS.read_text())
    assert not reads.unresolved, f"settings.py reads a variable whose name is not a literal: {reads.unresolved}"
    documented = readme_variables(README.read_text())
    duplicates = sorted({name for name in documented if documented.count(name) > 1})
    assert not duplicates, f"README settings table lists these twice: {duplicates}"
    assert sorted(reads.names - set(documented)) == [], "read by settings.py, missing from the README table"
    assert sorted(set(documented) - reads.names) == [], "in the README table, never read by settings.py"


def test_every_settings_row_gives_a_default_and_a_meaning():
    for row in settings_table(README.read_text()):
        assert len(row) == 3 and all(row), f"a settings row needs variable, default and meaning: {row}"


def test_the_readme_is_short():
    lines = len(README.read_text().splitlines())
    assert lines < MAX_README_LINES, f"README.md has {lines} lines; keep it under {MAX_README_LINES}"


def test_the_quick_start_is_the_two_commands():
    quick_start = [line.strip() for line in section(README.read_text(), "Quick start")]
    block_start = quick_start.index("```") + 1
    block = quick_start[block_start : quick_start.index("```", block_start)]
    assert "./dev up" in block, block
    assert "./dev test" in block, block


# The reader itself, on small sources: each way of reading the environment is found.
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('import environ\nenv = environ.Env()\nA = env("A", default=1)', {"A"}),
        ('import environ\nenv = environ.Env()\nA = env.bool("A")\nB = env.int(var="B")', {"A", "B"}),
        ('import environ\nenv = environ.Env()\nD = {"default": env.db("DATABASE_URL")}', {"DATABASE_URL"}),
        (
            'import environ\nenv = environ.Env()\nA = env.str("A")\nB = env.list("B")\nC = env.db_url("C")',
            {"A", "B", "C"},
        ),
        ('import os\nA = os.environ.get("A")\nB = os.environ["B"]\nC = os.getenv("C")', {"A", "B", "C"}),
        ('import os\nA = "A" in os.environ\nB = os.environ.setdefault("B", "x")', {"A", "B"}),
        ('import environ\nenv = environ.Env()\nenv.read_env(".env")\nA = env("A")', {"A"}),
        (
            "import environ\nenv = environ.Env()\n"
            "def _read(name, cast, default):\n    return env(name, cast=cast, default=default)\n"
            "def _flag(name):\n    return _read(name, bool, False)\n"
            'A = _read("A", str, "")\nB = _flag("B")',
            {"A", "B"},
        ),
    ],
)
def test_the_reader_finds_every_way_of_reading_a_variable(source, expected):
    reads = EnvironmentReads(source)
    assert reads.names == expected
    assert reads.unresolved == []


def test_the_reader_refuses_a_name_it_cannot_see():
    reads = EnvironmentReads('import environ\nenv = environ.Env()\nPREFIX = "A"\nA = env(PREFIX + "_X")')
    assert reads.unresolved, "a computed variable name must fail the test, not be skipped"
