"""The tamper scan: code in a submission that reaches for the grading machinery instead of answering.

The grader does not need this to score fairly: it ignores `quiz.check` and `quiz.score` and judges the
answers in its own process. The scan is there so that an attempt is seen and reviewed, not silently
ignored. It reads the code cells the student wrote or changed (a cell left as released is the instructor's;
IPython magics are turned into Python first) and flags
- in the answer-key cell: anything but `from coursekit.grading import Quiz` and `quiz = Quiz.load("...")`;
- elsewhere: binding `quiz` or `Quiz`; using `quiz` other than as `quiz.check(...)`, `quiz.score()` or
  `quiz.evaluate(...)`; using `Quiz`; importing or naming `coursekit.grading`; changing attributes or
  items of `quiz`, `Quiz`, `builtins`, `sys.modules` and the import machinery; `setattr`/`delattr` on them;
  replacing a function of an imported module (`np.allclose = lambda *a: True`), which a questionnaire's
  test running in the kernel could rely on (setting a module's option to a constant is fine);
  audit and trace hooks (`sys.addaudithook`, `sys.settrace`, `sys.setprofile`); IPython event hooks
  (`get_ipython().events`), which could rewrite the grader's cells; `ctypes` and `cffi`, which can get
  around the sandbox's guard; `gc.get_objects`/`get_referrers`/`get_referents`, which search memory for
  the grader's objects.
It catches what is written plainly; code built from strings at run time escapes it, and gains nothing.
"""
from __future__ import annotations

import ast
from typing import Iterator

QUIZ_METHODS = {"check", "score", "evaluate"}
SENSITIVE = {"builtins", "__builtins__", "coursekit"}
SYS_MACHINERY = {"modules", "meta_path", "path_hooks", "path_importer_cache", "audit", "addaudithook",
                 "settrace", "setprofile", "displayhook", "excepthook"}
ESCAPES = {"ctypes", "_ctypes", "cffi"}
ALLOWED_IMPORTS = {"coursekit.grading.answers"}  # plain helpers (`describe`, `is_stub`) questionnaires use
COMMON_MODULES = {"np", "torch", "F", "nn", "plt", "pd", "math", "random", "os", "sys", "matplotlib", "numpy"}
MEMORY_SEARCH = {"get_objects", "get_referrers", "get_referents"}


def python_source(source: str) -> str:
    """Return a cell's source as plain Python: IPython magics and `!` commands become the calls they stand for."""
    from IPython.core.inputtransformer2 import TransformerManager
    return TransformerManager().transform_cell(source)


def _parse(source: str) -> ast.AST | None:
    """Return the syntax tree of a cell, or None when it does not parse (it will fail when run)."""
    try:
        return ast.parse(python_source(source))
    except (SyntaxError, ValueError, TypeError):
        return None


def _names_in(node: ast.AST) -> set[str]:
    """Return every name and attribute mentioned in an expression: `sys.modules['x']` gives sys, modules."""
    found = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            found.add(n.id)
        elif isinstance(n, ast.Attribute):
            found.add(n.attr)
    return found


def _module_names(node: ast.AST) -> list[str]:
    """Return the modules an import statement brings in, by full name."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        return [base, *[f"{base}.{a.name}" for a in node.names]]
    return []


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    """Return each node's parent."""
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _quiz_use_is_allowed(name: ast.Name, parents: dict) -> bool:
    """Return True for `quiz.check(...)`, `quiz.score()`, `quiz.evaluate(...)`, or `quiz` alone on a line."""
    parent = parents.get(name)
    if isinstance(parent, ast.Expr):
        return True
    call = parents.get(parent)
    return (isinstance(parent, ast.Attribute) and parent.attr in QUIZ_METHODS and isinstance(call, ast.Call)
            and call.func is parent)


def _binding_problems(tree: ast.AST, guarded: set[str]) -> Iterator[str]:
    """Yield each binding of a guarded name: assignment, `del`, def, class, import as, global."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load) and node.id in guarded:
            yield f"rebinds `{node.id}`"
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in guarded:
            yield f"defines its own `{node.name}`"
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if (alias.asname or alias.name).split(".")[0] in guarded:
                    yield f"imports something as `{alias.asname or alias.name}`"
        elif isinstance(node, (ast.Global, ast.Nonlocal)) and guarded & set(node.names):
            yield f"declares `{', '.join(sorted(guarded & set(node.names)))}` global"


def imported_names(sources: list[str]) -> set[str]:
    """Return the names that import statements in `sources` bind, and the usual module aliases (`np`, `F`...)."""
    names = set(COMMON_MODULES)
    for source in sources:
        tree = _parse(source)
        for node in ast.walk(tree) if tree else []:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
    return names


def _root(node: ast.AST) -> str | None:
    """Return the name an attribute chain starts from: `np` for `np.linalg.norm`."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _patch_problems(tree: ast.AST, modules: set[str]) -> Iterator[str]:
    """Yield each function of an imported module replaced by an assignment or `setattr`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and not isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Attribute) and _root(target) in modules:
                    yield f"replaces `{ast.unparse(target)}`"
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr"
              and node.args and _root(node.args[0]) in modules):
            yield f"calls `setattr` on the module `{ast.unparse(node.args[0])}`"


def _store_problems(tree: ast.AST, guarded: set[str]) -> Iterator[str]:
    """Yield each change made to an attribute or item of the grading objects, builtins or the import machinery."""
    touchy = guarded | SENSITIVE

    def is_touchy(node: ast.AST) -> bool:
        """Return True when the expression `node` names a guarded object, builtins or the import machinery."""
        names = _names_in(node)
        return bool(names & touchy or ("sys" in names and names & SYS_MACHINERY))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Attribute, ast.Subscript)) and not isinstance(node.ctx, ast.Load):
            if is_touchy(node):
                yield f"changes `{ast.unparse(node)}`"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr"):
            if node.args and is_touchy(node.args[0]):
                yield f"calls `{node.func.id}` on `{ast.unparse(node.args[0])}`"


def _ipython_events(node: ast.Attribute) -> bool:
    """Return True for `get_ipython().events`, `ip.events.register` and `register_post_execute`."""
    if node.attr == "register_post_execute":
        return True
    if node.attr == "events":
        return "get_ipython" in _names_in(node.value)
    return node.attr in ("register", "unregister") and isinstance(node.value, ast.Attribute) \
        and node.value.attr == "events"


def _call_problems(tree: ast.AST) -> Iterator[str]:
    """Yield each use of hooks, `ctypes`, memory searches and IPython events."""
    for node in ast.walk(tree):
        for module in _module_names(node):
            if module.split(".")[0] in ESCAPES:
                yield f"imports `{module}`, which can get around the grader's sandbox"
            if (module == "coursekit.grading" or module.startswith("coursekit.grading.")) and \
                    module not in ALLOWED_IMPORTS and not module.startswith("coursekit.grading.answers."):
                yield f"imports `{module}`"
        if isinstance(node, ast.Attribute):
            if node.attr in ("addaudithook", "settrace", "setprofile"):
                yield f"installs a hook with `{ast.unparse(node)}`"
            elif node.attr in MEMORY_SEARCH and isinstance(node.value, ast.Name) and node.value.id == "gc":
                yield f"searches memory with `gc.{node.attr}`"
            elif _ipython_events(node):
                yield f"uses IPython's event hooks (`{ast.unparse(node)}`)"
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if "coursekit.grading" in node.value or "coursekit/grading" in node.value:
                yield "names the grading package `coursekit.grading` in a string"


def _use_problems(tree: ast.AST, quiz_name: str) -> Iterator[str]:
    """Yield each use of `quiz` beyond its checks, and each use of `Quiz` (it belongs in the answer-key cell)."""
    parents = _parents(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id == quiz_name and not _quiz_use_is_allowed(node, parents):
                yield f"uses `{quiz_name}` other than through {quiz_name}.check and {quiz_name}.score"
            elif node.id == "Quiz":
                yield "uses `Quiz` outside the answer-key cell"


def _key_cell_problems(tree: ast.AST, quiz_name: str) -> Iterator[str]:
    """Yield a problem when the answer-key cell holds anything but the import and `quiz = Quiz.load("...")`."""
    for node in getattr(tree, "body", []):
        if isinstance(node, ast.ImportFrom) and node.module == "coursekit.grading" and \
                [a.name for a in node.names] == ["Quiz"] and node.names[0].asname is None:
            continue
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == quiz_name and isinstance(node.value, ast.Call)
                and ast.unparse(node.value.func) == "Quiz.load" and not node.value.keywords
                and len(node.value.args) == 1 and isinstance(node.value.args[0], ast.Constant)
                and isinstance(node.value.args[0].value, str)):
            continue
        yield f"changes the answer-key cell (`{ast.unparse(node)[:60]}`)"
        return


def scan(cells: list[tuple[int, str, bool]], quiz_name: str, modules: set[str] = COMMON_MODULES) -> list[str]:
    """Return what looks like tampering in `cells`, (number, source, is the answer-key cell), one line each.

    `modules` are the names of imported modules, whose functions a cell must not replace.
    """
    guarded = {quiz_name, "Quiz"}
    flags: list[str] = []
    for index, source, is_key in cells:
        tree = _parse(source)
        if tree is None:
            continue
        if is_key:
            found = list(_key_cell_problems(tree, quiz_name))
        else:
            found = [*_binding_problems(tree, guarded), *_store_problems(tree, guarded),
                     *_patch_problems(tree, modules), *_call_problems(tree), *_use_problems(tree, quiz_name)]
        for problem in found:
            line = f"cell {index} {problem}"
            if line not in flags:
                flags.append(line)
    return flags
