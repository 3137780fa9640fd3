#!/usr/bin/env python3
"""Fails when the crate's modules under src/ import each other in a circle.

A module is one file (src/a.rs and src/a/mod.rs are `crate::a`, src/a/b.rs is `crate::a::b`). Every path
that starts with `crate::`, `super::` or `self::` in the code (comments and strings left out; `use` groups
expanded) is an arrow to the deepest module it names: `super::Job` from src/exec/cpu.rs points at
src/exec/mod.rs, `super::pool::Pool` at src/exec/pool.rs. Declaring a child (`mod x;`) is no arrow.
Prints each circle with the names that tie it, and exits 1 if there is one.

    python3 scripts/module_cycles.py [SRC_DIR]
"""
import re
import sys
from pathlib import Path

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def module_of(path: Path, src: Path) -> tuple:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts == ["lib"] or parts == ["main"]:
        return ()
    if parts[-1] == "mod":
        parts = parts[:-1]
    return tuple(parts)


def strip_comments_and_strings(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text, flags=re.S)
    text = re.sub(r"'(?:\\.|[^'\\])'", "' '", text)
    return re.sub(r"//[^\n]*", "", text)


def expand_use_tree(tree: str) -> list:
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e'] (whitespace removed)."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)  # `a::b as c` names a::b
    tree = re.sub(r"\s+", "", tree)
    brace = tree.find("{")
    if brace < 0:
        return [tree] if tree else []
    prefix, inner = tree[:brace], tree[brace + 1 : tree.rfind("}")]
    items, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            items.append(inner[start:i])
            start = i + 1
    items.append(inner[start:])
    return [prefix + path for item in items if item for path in expand_use_tree(item)]


def inline_depths(code: str) -> list:
    """For each character, how many inline modules (`mod x { ... }`) enclose it."""
    depth_at, opens, braces, depth = [0] * len(code), set(), 0, 0
    for m in re.finditer(rf"\bmod\s+\$?{IDENT}\s*\{{", code):  # `$name`: a macro's module
        opens.add(m.end() - 1)
    closing = []  # brace depths at which an inline module closes
    for i, ch in enumerate(code):
        if ch == "{":
            braces += 1
            if i in opens:
                closing.append(braces)
                depth += 1
        elif ch == "}":
            if closing and closing[-1] == braces:
                closing.pop()
                depth -= 1
            braces -= 1
        depth_at[i] = depth
    return depth_at


def paths_in(code: str, children: set) -> list:
    """(path, inline-module depth) of every crate-relative path in the code; a path that starts with a
    child module's name (`cpu::run` in src/exec/mod.rs) is relative to the file's module."""
    depth_at = inline_depths(code)
    starts = "|".join(["crate", "super", "self"] + sorted(children))
    found = []
    for m in re.finditer(r"\buse\s+([^;]+);", code):
        found += [(p, depth_at[m.start()]) for p in expand_use_tree(m.group(1))]
    rest = re.sub(r"\buse\s+[^;]+;", lambda m: " " * len(m.group(0)), code)  # positions kept
    for m in re.finditer(rf"(?<![\w:])(?:{starts})(?:::{IDENT})+", rest):
        found.append((m.group(0), depth_at[m.start()]))
    out = []
    for p, d in found:
        first = p.split("::")[0]
        if first in ("crate", "super", "self"):
            out.append((p, d))
        elif first in children and d == 0:
            out.append(("self::" + p, d))
    return out


def reexports(lib: Path, modules: set) -> dict:
    """Names the crate root re-exports (`pub use a::b::Name;`), to the module that defines them."""
    out = {}
    for m in re.finditer(r"\bpub\s+use\s+([^;]+);", strip_comments_and_strings(lib.read_text())):
        for path in expand_use_tree(m.group(1)):
            target, _ = resolve("crate::" + path.removeprefix("crate::"), (), modules, {})
            out[path.split("::")[-1]] = target
    return out


def resolve(path: str, here: tuple, modules: set, roots: dict):
    """The module a path points at, and the first name after it (None when it names the module)."""
    parts = path.split("::")
    if parts[0] == "crate":
        base, rest = (), parts[1:]
    else:
        base = here
        while parts and parts[0] in ("super", "self"):
            if parts[0] == "super":
                base = base[:-1]
            parts = parts[1:]
        rest = parts
    while base and base not in modules:  # inside an inline module: its file's module
        base = base[:-1]
    target, used = base, 0
    for name in rest:
        if target + (name,) not in modules:
            break
        target, used = target + (name,), used + 1
    name = rest[used] if used < len(rest) else None
    if target == () and name in roots:  # a name the crate root re-exports: where it is defined
        return roots[name], name
    return target, name


def cycles(graph: dict) -> list:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "src")
    files = {module_of(p, src): p for p in sorted(src.rglob("*.rs"))}
    modules = set(files)
    roots = reexports(files[()], modules) if () in files else {}
    graph = {m: {} for m in modules}
    for module, path in files.items():
        if module == ():
            continue  # the crate root declares and re-exports: its arrows are the tree itself
        children = {m[-1] for m in modules if m[:-1] == module and m}
        for p, depth in paths_in(strip_comments_and_strings(path.read_text()), children):
            target, name = resolve(p, module + ("#inline",) * depth, modules, roots)
            if target != module and target in modules:
                graph[module].setdefault(target, set()).add(name or "*")
    found = cycles(graph)
    for component in found:
        print("module circle: " + ", ".join(str(files[m]) for m in component))
        for m in component:
            for target, names in sorted(graph[m].items()):
                if target in component:
                    print(f"  {files[m]} -> {files[target]}: {', '.join(sorted(names))}")
    if found:
        return 1
    print(f"no module circles among the {len(modules)} modules under {src}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
