"""Layers only call downward: every module of the firmware (and the simulation
above it) imports only from its own layer or a lower one. docs/architecture.md
draws the same table."""
import ast

from mputil import ROOT

# package -> layer; a module may import its own package and lower layers only.
# drivers and boardconfig are both the bottom and know nothing of each other.
LAYERS = {
    "drivers": 0,
    "boardconfig": 0,
    "core": 1,
    "metrology": 2,
    "protection": 3,
    "comms": 4,
    "firmware": 5,
    "sim": 6,  # the simulated machine and its launchers: never imported by firmware
}


def _imports(path):
    """(line, top-level package) of every import in a module, lazy ones inside
    functions included."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                yield node.lineno, arg.value.split(".")[0]
            elif isinstance(arg, ast.BinOp) and isinstance(arg.left, ast.Constant):
                yield node.lineno, str(arg.left.value).split(".")[0]


def _violations():
    bad = []
    for pkg, level in LAYERS.items():
        for p in sorted((ROOT / pkg).rglob("*.py")):
            for line, top in _imports(p):
                if top not in LAYERS or top == pkg:
                    continue
                if LAYERS[top] >= level:
                    bad.append("%s:%d imports %s (layer %d) from layer %d"
                               % (p.relative_to(ROOT), line, top, LAYERS[top], level))
    return bad


def test_every_module_imports_only_its_own_layer_or_lower():
    assert _violations() == []


def test_every_firmware_folder_has_a_layer():
    # a new top-level package must take its place in the table
    pkgs = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "tools"}
    assert pkgs <= set(LAYERS), sorted(pkgs - set(LAYERS))


def test_the_checker_sees_an_upward_import(tmp_path):
    # the test above proves something only if it can fail
    p = tmp_path / "m.py"
    p.write_text("import os\ndef f():\n    from protection.engine import Protection\n"
                 "    __import__('sim.world')\n")
    assert [t for _, t in _imports(p)] == ["os", "protection", "sim"]
