"""Layout guard for the whole repository (it mirrors no single module): the top-level modules
of `src/` (Rust) and of `python/ferrule/` (Python) import each other without circles, and every
Rust dependency points down the layers that the `# Dependencies` section of `src/lib.rs`
declares. The checkers are tested on small trees first, so the real-repo tests at the end mean
what they say.

What counts as a dependency:
- Rust: a file `src/X.rs` or a folder `src/X/` is module `X`. It depends on `Y` through a
  `crate::Y` path, a `use crate::{Y, Z::...}` group, a `super::` path that climbs to the crate
  root, or a `macro_rules!` macro defined in `Y`. Comments and string literals do not count;
  neither do the item under each `#[cfg(test)]`, `tests.rs` files, files in `tests/` folders,
  `src/lib.rs` and `src/main.rs`.
- Python: a file `X.py` or a package `X/` in `python/ferrule/` is module `X`
  (`__init__.py` is `__init__`). It depends on `Y` through any `import` statement naming
  `ferrule.Y` (absolute or relative, lazy ones and `TYPE_CHECKING` ones included;
  `from ferrule import name` depends on `__init__` when `name` is not a module) or an
  `importlib.import_module("ferrule.Y")` call. The compiled core `_ferrule` is left out.
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

#: module -> the modules it depends on -> where ("src/relay.rs:27: crate::bridge"), in order.
Graph = dict[str, dict[str, list[str]]]


# --------------------------------------------------------------------------------------------
# Rust


# A comment, a string or a char literal: their text is not code. A block comment's nesting is
# followed by hand; a `'` that does not close a one-character literal is a lifetime.
_RUST_NOT_CODE = re.compile(
    r"""
      //[^\n]*
    | /\*
    | (?<![A-Za-z0-9_])b?r(?P<hashes>\#*)"
    | b?"(?:\\.|[^"\\])*"
    | b?'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]{1,6}\}|.)|[^'\\\n])'
    """,
    re.VERBOSE | re.DOTALL,
)
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_CRATE_PATH = re.compile(rf"(?<![A-Za-z0-9_$])\$?crate\s*::\s*(\{{|{_IDENT})")
_SUPER_PATH = re.compile(rf"(?<![A-Za-z0-9_:])((?:super\s*::\s*)+)(\{{|{_IDENT})")
_INLINE_MOD = re.compile(rf"(?<![A-Za-z0-9_])mod\s+{_IDENT}\s*\{{")
_MACRO_DEFINITION = re.compile(rf"macro_rules!\s*({_IDENT})")


def _blank(text: str, start: int, end: int) -> str:
    """`text` with `start..end` turned into spaces, newlines kept (line numbers stay right)."""
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def _closing(code: str, start: int, open_: str = "{", close: str = "}") -> int:
    """The index just past the bracket that closes the one at `code[start]` (or the end)."""
    depth = 0
    for i in range(start, len(code)):
        if code[i] == open_:
            depth += 1
        elif code[i] == close:
            depth -= 1
            if depth == 0:
                return i + 1
    return len(code)


def rust_code(text: str) -> str:
    """`text` with comments, string and char literals blanked out."""
    pos = 0
    while match := _RUST_NOT_CODE.search(text, pos):
        start, end = match.span()
        if match.group() == "/*":
            depth, end = 1, start + 2
            while depth and end < len(text):
                if text.startswith("/*", end):
                    depth, end = depth + 1, end + 2
                elif text.startswith("*/", end):
                    depth, end = depth - 1, end + 2
                else:
                    end += 1
        elif match.group("hashes") is not None:
            closing = text.find('"' + match.group("hashes"), end)
            end = len(text) if closing < 0 else closing + 1 + len(match.group("hashes"))
        text = _blank(text, start, end)
        pos = end
    return text


def without_test_items(code: str) -> str:
    """`code` (comments already blanked) without the item under each `#[cfg(test)]`: up to
    its `;`, or through its `{ ... }` block."""
    pos = 0
    while (start := code.find("#[cfg(test)]", pos)) >= 0:
        i, depth, end = start + len("#[cfg(test)]"), 0, len(code)
        while i < len(code):
            char = code[i]
            if char in "([":
                depth += 1
            elif char in ")]":
                depth -= 1
            elif depth == 0 and char == ";":
                end = i + 1
                break
            elif depth == 0 and char == "{":
                end = _closing(code, i)
                break
            i += 1
        code = _blank(code, start, end)
        pos = end
    return code


def _group_heads(code: str, brace: int) -> list[tuple[str, int]]:
    """The first name of each path in the `{ ... }` group at `code[brace]`, with its
    position: `{a, b::{c, d}, self}` gives a, b and self."""
    end = _closing(code, brace)
    heads, depth, item_start = [], 0, brace + 1
    for i in range(brace, end):
        if code[i] == "{":
            depth += 1
        elif code[i] == "}":
            depth -= 1
        if (depth == 1 and code[i] == ",") or (depth == 0 and code[i] == "}"):
            item = code[item_start:i]
            if head := re.match(rf"\s*({_IDENT})", item):
                heads.append((head.group(1), item_start + head.start(1)))
            item_start = i + 1
    return heads


def _rust_files(src: Path, module: str) -> list[Path]:
    """The files of top-level module `module`, its tests left out."""
    folder = src / module
    files = [src / f"{module}.rs"] if (src / f"{module}.rs").is_file() else []
    if folder.is_dir():
        files += sorted(path for path in folder.rglob("*.rs")
                        if path.name != "tests.rs" and "tests" not in path.relative_to(src).parts[:-1])
    return files


def _module_depth(src: Path, path: Path) -> int:
    """How many `super::` from the top of file `path` reach the crate root."""
    parts = path.relative_to(src).parts
    return len(parts) - 1 if path.name == "mod.rs" else len(parts)


def rust_graph(repo: Path) -> Graph:
    """The dependencies between the top-level modules of `repo/src`."""
    src = repo / "src"
    modules = sorted({path.stem for path in src.glob("*.rs")} - {"lib", "main"}
                     | {path.name for path in src.iterdir() if path.is_dir() and path.name != "bin"})
    code = {path: without_test_items(rust_code(path.read_text(encoding="utf-8")))
            for module in modules for path in _rust_files(src, module)}
    macros = {name: module for module in modules for path in _rust_files(src, module)
              for name in _MACRO_DEFINITION.findall(code[path])}
    macro_use = (re.compile(rf"(?<![A-Za-z0-9_])({'|'.join(map(re.escape, macros))})\s*!(?!=)")
                 if macros else None)

    graph: Graph = {module: {} for module in modules}
    for module in modules:
        for path in _rust_files(src, module):
            text = code[path]
            where = path.relative_to(repo).as_posix()

            def depend(target: str, pos: int, reference: str, text: str = text,
                       where: str = where, module: str = module) -> None:
                if target in graph and target != module:
                    line = text.count("\n", 0, pos) + 1
                    graph[module].setdefault(target, []).append(f"{where}:{line}: {reference}")

            # (path as written up to the crate root, position of what follows, `{` or a name)
            roots = [("crate::", match.start(1), match.group(1))
                     for match in _CRATE_PATH.finditer(text)]
            inline_mods = [(m.start(), _closing(text, m.end() - 1)) for m in _INLINE_MOD.finditer(text)]
            for match in _SUPER_PATH.finditer(text):
                climbs = match.group(1).count("super")
                nesting = sum(start < match.start() < end for start, end in inline_mods)
                if climbs == _module_depth(src, path) + nesting:
                    roots.append(("super::" * climbs, match.start(2), match.group(2)))
            for prefix, pos, root in roots:
                if root == "{":
                    for name, name_pos in _group_heads(text, pos):
                        depend(name, name_pos, prefix + name)
                else:
                    depend(root, pos, prefix + root)
            if macro_use is not None:
                for match in macro_use.finditer(text):
                    name = match.group(1)
                    depend(macros[name], match.start(), f"{name}! (a macro of `{macros[name]}`)")
    return graph


# --------------------------------------------------------------------------------------------
# Python


def python_graph(repo: Path) -> Graph:
    """The dependencies between the top-level modules of `repo/python/ferrule`."""
    package = repo / "python" / "ferrule"
    modules = sorted({path.stem for path in package.glob("*.py")}
                     | {path.name for path in package.iterdir() if (path / "__init__.py").is_file()})
    graph: Graph = {module: {} for module in modules}

    def top(dotted: str) -> str | None:
        parts = dotted.split(".")
        if parts[0] != "ferrule":
            return None
        return parts[1] if len(parts) > 1 else "__init__"

    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package.parent).with_suffix("").parts
        name = relative[:-1] if relative[-1] == "__init__" else relative
        module = top(".".join(relative[:2])) or "__init__"
        this_package = name if path.name == "__init__.py" else name[:-1]
        where = path.relative_to(repo).as_posix()
        targets: list[tuple[str, int, str]] = []  # (dotted name, line, statement)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets += [(alias.name, node.lineno, f"import {alias.name}") for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([*this_package[:len(this_package) - node.level + 1],
                                     *filter(None, [node.module])])
                for alias in node.names:
                    statement = f"from {'.' * node.level}{node.module or ''} import {alias.name}"
                    submodule = top(f"{base}.{alias.name}")
                    is_module = submodule in graph or submodule == "_ferrule"
                    targets.append((f"{base}.{alias.name}" if is_module else base,
                                    node.lineno, statement))
            elif (isinstance(node, ast.Call) and node.args
                  and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
                  and getattr(node.func, "attr", getattr(node.func, "id", None))
                  in ("import_module", "__import__")):
                targets.append((node.args[0].value, node.lineno,
                                f"import_module({node.args[0].value!r})"))
        for dotted, line, statement in targets:
            target = top(dotted)
            if target in graph and target not in (module, "_ferrule"):
                graph[module].setdefault(target, []).append(f"{where}:{line}: {statement}")
    return graph


# --------------------------------------------------------------------------------------------
# Cycles


def _reachable(graph: Graph, start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in graph.get(todo.pop(), {}):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def find_cycles(graph: Graph) -> list[list[str]]:
    """One cycle per group of modules that depend on each other (a strongly connected
    component): the shortest one through the group's first module, e.g. `[a, b, a]`."""
    reach = {module: _reachable(graph, module) for module in graph}
    cycles, done = [], set()
    for start in sorted(graph):
        if start in done or start not in reach[start]:
            continue
        group = {module for module in reach[start] if start in reach[module]}
        done |= group
        paths, seen = [[start]], {start}
        while paths:  # breadth first, so the cycle found is a shortest one
            path = paths.pop(0)
            targets = sorted(graph[path[-1]])
            if start in targets:
                cycles.append([*path, start])
                break
            for target in targets:
                if target in group and target not in seen:
                    seen.add(target)
                    paths.append([*path, target])
    return cycles


def describe_cycle(graph: Graph, cycle: list[str]) -> str:
    """`a -> b -> a`, then the first reference of each step."""
    lines = [" -> ".join(cycle)]
    for source, target in zip(cycle, cycle[1:]):
        references = graph[source][target]
        more = f" (and {len(references) - 1} more)" if len(references) > 1 else ""
        lines.append(f"  {references[0]}{more}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Rust layers, declared in src/lib.rs


class LayoutError(Exception):
    """The `# Dependencies` section of src/lib.rs is missing or malformed."""


def parse_layers(lib_rs: str) -> list[list[str]]:
    """The layers in the `# Dependencies` section of lib.rs's doc comment, highest first:
    after the heading and its sentence, one `- `a`, `b`` line per layer.

    # Errors
    `LayoutError` when the section is missing, lists nothing, has a line that is not a list
    of modules, or lists a module twice.
    """
    doc = [line.strip()[3:].removeprefix(" ") for line in lib_rs.splitlines()
           if line.strip().startswith("//!")]
    if "# Dependencies" not in doc:
        raise LayoutError("src/lib.rs has no `# Dependencies` section in its doc comment.")
    layers: list[list[str]] = []
    for line in doc[doc.index("# Dependencies") + 1:]:
        if line.startswith("#") or (layers and not line.startswith("- ")):
            break
        if not line.startswith("- "):
            continue  # the sentence before the list
        names = [name.strip() for name in line[2:].split(",")]
        if not all(re.fullmatch(rf"`{_IDENT}`", name) for name in names):
            raise LayoutError(
                f"The `# Dependencies` section of src/lib.rs has a line that is not a list of "
                f"modules: '{line}'."
            )
        layers.append([name.strip("`") for name in names])
    if not layers:
        raise LayoutError("The `# Dependencies` section of src/lib.rs lists no modules.")
    listed = [name for layer in layers for name in layer]
    for name in listed:
        if listed.count(name) > 1:
            raise LayoutError(
                f"Module `{name}` is listed twice in the `# Dependencies` section of src/lib.rs."
            )
    return layers


def check_layers(graph: Graph, layers: list[list[str]]) -> list[str]:
    """What breaks the layers: modules that are not listed, listed modules that do not exist,
    and each reference from a module to one on its own line or a higher one."""
    line_of = {name: number for number, layer in enumerate(layers) for name in layer}
    problems = [f"Module `{module}` is not listed in the `# Dependencies` section of src/lib.rs."
                for module in sorted(graph) if module not in line_of]
    problems += [f"Module `{name}` is listed in the `# Dependencies` section of src/lib.rs but "
                 f"does not exist." for layer in layers for name in layer if name not in graph]
    for source in sorted(graph):
        for target, references in sorted(graph[source].items()):
            if source not in line_of or target not in line_of or line_of[target] > line_of[source]:
                continue
            place = "on the same line" if line_of[target] == line_of[source] else "on a higher line"
            problems += [f"{reference}: `{source}` may not use `{target}`, which is {place}."
                         for reference in references]
    return problems


# --------------------------------------------------------------------------------------------
# The checkers, on small trees


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def edges(graph: Graph) -> dict[str, set[str]]:
    return {module: set(targets) for module, targets in graph.items()}


def test_rust_graph_reads_crate_paths_groups_super_and_macros(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "src/lib.rs": "pub mod a;\nuse crate::b;\n",
        "src/main.rs": "use crate::c;\n",
        "src/a.rs": """\
            //! Hands off to `crate::e`, which this comment does not make a dependency.
            use crate::b::Thing;
            use crate::{c, d::{e, f}, self};
            /* crate::e /* nested */ crate::e */
            const S: &str = "crate::e";
            const R: &str = r#"crate::e "quoted" "#;
            const Q: char = '"';
            fn keep<'a>(s: &'a str) -> &'a str { log_at!("{}", s); s }
            #[cfg(test)]
            mod tests {
                use crate::e;
            }
            #[cfg(test)]
            use crate::e::Helper;
            pub fn after() { crate::g::run(); super::h::run(); }
        """,
        "src/b/mod.rs": "pub struct Thing;\nmod inner;\n#[cfg(test)]\nmod tests;\n",
        "src/b/inner.rs": "use crate::c::X;\nuse super::super::d;\n",
        "src/b/tests.rs": "use crate::a;\n",
        "src/b/tests/more.rs": "use crate::a;\n",
        "src/c.rs": "use super::{e, self as root};\nmod inner { use super::super::f; }\n",
        "src/d/mod.rs": "use super::h::inner::Y;\n",
        "src/e.rs": "", "src/f.rs": "", "src/g.rs": "",
        "src/h.rs": "#[macro_export]\nmacro_rules! log_at { ($($t:tt)*) => { $crate::h::write() } }\n",
    })
    graph = rust_graph(tmp_path)
    assert edges(graph) == {
        "a": {"b", "c", "d", "g", "h"},
        "b": {"c", "d"},
        "c": {"e", "f"},
        "d": {"h"},
        "e": set(), "f": set(), "g": set(), "h": set(),
    }
    assert graph["a"] == {
        "b": ["src/a.rs:2: crate::b"],
        "c": ["src/a.rs:3: crate::c"],
        "d": ["src/a.rs:3: crate::d"],
        "g": ["src/a.rs:15: crate::g"],
        "h": ["src/a.rs:15: super::h", "src/a.rs:8: log_at! (a macro of `h`)"],
    }
    assert graph["b"]["d"] == ["src/b/inner.rs:2: super::super::d"]
    assert graph["c"] == {"e": ["src/c.rs:1: super::e"], "f": ["src/c.rs:2: super::super::f"]}


def test_python_graph_reads_every_kind_of_import(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "python/ferrule/__init__.py": "from ferrule.config import Config\nfrom ._core import core\n",
        "python/ferrule/_core.py": "import importlib\nimportlib.import_module('ferrule._ferrule')\n",
        "python/ferrule/config.py": """\
            import os
            from typing import TYPE_CHECKING
            from ferrule.errors import ConfigError
            if TYPE_CHECKING:
                from ferrule.settings import Setting

            def load():
                from ferrule import cli
                return cli
        """,
        "python/ferrule/cli.py": """\
            import importlib
            import ferrule.settings
            from . import errors, importer
            from .config import Config
            from ferrule import Config as Again
            importlib.import_module("ferrule.watch")
            from ferrule import _ferrule
        """,
        "python/ferrule/errors.py": "",
        "python/ferrule/importer.py": "import ferrule\n",
        "python/ferrule/settings.py": "",
        "python/ferrule/watch.py": "",
        "python/ferrule/_ferrule.pyi": "from ferrule.cli import main\n",
        "python/ferrule/sub/__init__.py": "from .. import errors\nfrom . import part\n",
        "python/ferrule/sub/part.py": "from .other import x\nfrom ..settings import S\n",
        "python/other/thing.py": "from ferrule import cli\n",
    })
    graph = python_graph(tmp_path)
    assert edges(graph) == {
        "__init__": {"config", "_core"},
        "_core": set(),
        "config": {"errors", "settings", "cli"},
        "cli": {"settings", "errors", "importer", "config", "__init__", "watch"},
        "errors": set(),
        "importer": {"__init__"},
        "settings": set(),
        "watch": set(),
        "sub": {"errors", "settings"},
    }
    assert graph["config"]["cli"] == ["python/ferrule/config.py:8: from ferrule import cli"]
    assert graph["cli"]["watch"] == ["python/ferrule/cli.py:6: import_module('ferrule.watch')"]
    assert graph["sub"]["settings"] == ["python/ferrule/sub/part.py:2: from ..settings import S"]


@pytest.mark.parametrize(
    ("graph", "cycles"),
    [
        ({"a": {"b": []}, "b": {"c": []}, "c": {}}, []),
        ({"a": {"b": []}, "b": {"a": []}}, [["a", "b", "a"]]),
        ({"a": {"b": [], "d": []}, "b": {"c": []}, "c": {"a": []}, "d": {"a": []}, "e": {"a": []}},
         [["a", "d", "a"]]),
        ({"x": {"y": []}, "y": {"x": []}, "a": {"b": []}, "b": {"c": []}, "c": {"a": []}},
         [["a", "b", "c", "a"], ["x", "y", "x"]]),
    ],
)
def test_find_cycles_reports_one_cycle_per_circle(graph: Graph, cycles: list[list[str]]) -> None:
    assert find_cycles(graph) == cycles


def test_a_rust_circle_is_reported_with_its_references(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "src/a.rs": "use crate::b::B;\n",
        "src/b/mod.rs": "\nuse crate::{a, c};\nfn f() { crate::a::g() }\n",
        "src/c.rs": "",
    })
    graph = rust_graph(tmp_path)
    assert [describe_cycle(graph, cycle) for cycle in find_cycles(graph)] == [
        "a -> b -> a\n  src/a.rs:1: crate::b\n  src/b/mod.rs:2: crate::a (and 1 more)"
    ]


def test_a_python_circle_through_a_lazy_import_is_reported(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "python/ferrule/cli.py": "from ferrule.config import Config\n",
        "python/ferrule/config.py": "def load():\n    from ferrule.cli import parse_flags\n",
    })
    graph = python_graph(tmp_path)
    assert [describe_cycle(graph, cycle) for cycle in find_cycles(graph)] == [
        "cli -> config -> cli\n"
        "  python/ferrule/cli.py:1: from ferrule.config import Config\n"
        "  python/ferrule/config.py:2: from ferrule.cli import parse_flags"
    ]


LIB_RS = """\
//! Ferrule: a WSGI server whose per-request work runs in Rust.
//!
//! # Dependencies
//! Each module may use only the modules on the lines below its own (lowest last):
//! - `python`
//! - `supervisor`, `pool`
//! - `worker`, `wsgi`
//! - `server`
//! - `conn`
//! - `bridge`, `listener`
//! - `relay`, `config`
//! - `log`
//! - `http`
//!
//! # Other
//! - `not`, `layers`

pub mod http;
"""


def test_parse_layers_reads_the_section_highest_first() -> None:
    assert parse_layers(LIB_RS) == [
        ["python"], ["supervisor", "pool"], ["worker", "wsgi"], ["server"], ["conn"],
        ["bridge", "listener"], ["relay", "config"], ["log"], ["http"],
    ]


@pytest.mark.parametrize(
    ("lib_rs", "message"),
    [
        ("//! Ferrule.\n//! # Layout\n//! - `http`\n",
         "src/lib.rs has no `# Dependencies` section in its doc comment."),
        ("//! # Dependencies\n//! Each module may use only the modules below.\n//!\n//! # Next\n",
         "The `# Dependencies` section of src/lib.rs lists no modules."),
        ("//! # Dependencies\n//! - `python`\n//! - server, `conn`\n",
         "The `# Dependencies` section of src/lib.rs has a line that is not a list of modules: "
         "'- server, `conn`'."),
        ("//! # Dependencies\n//! - `python`, `http`\n//! - `http`\n",
         "Module `http` is listed twice in the `# Dependencies` section of src/lib.rs."),
    ],
)
def test_parse_layers_rejects_a_missing_or_malformed_section(lib_rs: str, message: str) -> None:
    with pytest.raises(LayoutError) as info:
        parse_layers(lib_rs)
    assert str(info.value) == message


LAYERED_LIB_RS = """\
//! # Dependencies
//! Each module may use only the modules on the lines below its own (lowest last):
//! - `top`
//! - `left`, `right`
//! - `low`
"""


def test_check_layers_passes_a_tree_whose_dependencies_point_down(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "src/lib.rs": LAYERED_LIB_RS,
        "src/top.rs": "use crate::{left, right, low};\n",
        "src/left.rs": "use crate::low::X;\n",
        "src/right/mod.rs": "mod part;\n",
        "src/right/part.rs": "use crate::low::Y;\n",
        "src/low.rs": "#[cfg(test)]\nmod tests { use crate::top; }\n",
    })
    assert check_layers(rust_graph(tmp_path), parse_layers(LAYERED_LIB_RS)) == []


def test_check_layers_names_each_reference_that_points_up_or_sideways(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "src/lib.rs": LAYERED_LIB_RS + "//! - `ghost`\n",
        "src/top.rs": "use crate::left;\n",
        "src/left.rs": "use crate::right::R;\n",
        "src/right.rs": "",
        "src/low/mod.rs": "mod deep;\n",
        "src/low/deep.rs": "\n\nfn f() { crate::top::g(); crate::top::h(); }\n",
        "src/extra.rs": "use crate::top;\n",
    })
    assert check_layers(rust_graph(tmp_path), parse_layers(LAYERED_LIB_RS + "//! - `ghost`\n")) == [
        "Module `extra` is not listed in the `# Dependencies` section of src/lib.rs.",
        "Module `ghost` is listed in the `# Dependencies` section of src/lib.rs but does not exist.",
        "src/left.rs:1: crate::right: `left` may not use `right`, which is on the same line.",
        "src/low/deep.rs:3: crate::top: `low` may not use `top`, which is on a higher line.",
        "src/low/deep.rs:3: crate::top: `low` may not use `top`, which is on a higher line.",
    ]


# --------------------------------------------------------------------------------------------
# The real repository


def test_python_modules_have_no_import_circle() -> None:
    graph = python_graph(ROOT)
    assert {"__init__", "cli", "config", "flags", "settings"} <= set(graph)
    cycles = [describe_cycle(graph, cycle) for cycle in find_cycles(graph)]
    assert not cycles, "Python import circles:\n" + "\n".join(cycles)


def test_rust_modules_have_no_import_circle() -> None:
    graph = rust_graph(ROOT)
    assert {"http", "conn", "python"} <= set(graph)
    cycles = [describe_cycle(graph, cycle) for cycle in find_cycles(graph)]
    assert not cycles, "Rust import circles:\n" + "\n".join(cycles)


def test_rust_dependencies_point_down_the_layers_of_lib_rs() -> None:
    layers = parse_layers((ROOT / "src" / "lib.rs").read_text(encoding="utf-8"))
    problems = check_layers(rust_graph(ROOT), layers)
    assert not problems, "Against the `# Dependencies` of src/lib.rs:\n" + "\n".join(problems)
