"""The package's layers: every import points down (docs/architecture.md)."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / 'c2f_sdf_ros'
# Layer -> the layers it must not import. geometry is the floor; ros the roof. detect
# (hands on real images) sits beside model and data, below reconstruct.
FORBIDDEN = {
    'geometry': {'model', 'data', 'detect', 'train', 'reconstruct', 'eval', 'ros'},
    'model': {'data', 'detect', 'train', 'reconstruct', 'eval', 'ros'},
    'data': {'detect', 'train', 'reconstruct', 'eval', 'ros'},
    'detect': {'model', 'data', 'train', 'reconstruct', 'eval', 'ros'},
    'train': {'detect', 'reconstruct', 'eval', 'ros'},
    'reconstruct': {'train', 'eval', 'ros'},
    'eval': {'train', 'ros'},
    'ros': set(),
}


def imported_modules(path: pathlib.Path) -> list[tuple[int, str]]:
    """(line, module) of every import in ``path``, lazy ones inside functions included."""
    tree = ast.parse(path.read_text(), str(path))
    package = '.'.join(path.relative_to(PACKAGE.parent).with_suffix('').parts[:-1])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = package.split('.')[:len(package.split('.')) - node.level + 1]
                name = '.'.join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ''
            found.append((node.lineno, name))
    return found


def layer_of(module: str) -> str | None:
    parts = module.split('.')
    if parts[0] != 'c2f_sdf_ros' or len(parts) < 2:
        return None
    return parts[1] if parts[1] in FORBIDDEN else None


def violations() -> list[str]:
    bad = []
    for path in sorted(PACKAGE.rglob('*.py')):
        layer = layer_of('.'.join(path.relative_to(PACKAGE.parent).with_suffix('').parts))
        if layer is None:
            continue
        for line, module in imported_modules(path):
            target = layer_of(module)
            if target in FORBIDDEN[layer]:
                bad.append(f'{path.relative_to(PACKAGE.parent)}:{line}: {layer}/ imports '
                           f'{module} ({target}/)')
    return bad


def test_every_import_points_down():
    assert violations() == []


def test_the_rule_sees_lazy_and_relative_imports(tmp_path, monkeypatch):
    # A copy of the rule's input with two deliberate violations must be caught.
    fake = tmp_path / 'c2f_sdf_ros'
    (fake / 'model').mkdir(parents=True)
    (fake / 'model' / 'bad.py').write_text(
        'def f():\n    from c2f_sdf_ros.train import trainer\n'
        'from ..reconstruct import pipeline\n')
    monkeypatch.setattr(__import__(__name__), 'PACKAGE', fake)
    found = sorted(violations())
    assert len(found) == 2
    assert 'bad.py:2: model/ imports c2f_sdf_ros.train' in found[0]
    assert 'bad.py:3: model/ imports c2f_sdf_ros.reconstruct' in found[1]


@pytest.mark.parametrize('layer', sorted(FORBIDDEN))
def test_every_layer_exists(layer):
    assert (PACKAGE / layer / '__init__.py').is_file()
