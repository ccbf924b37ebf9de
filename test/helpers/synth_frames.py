"""Synthetic folders for tests: the rigged hand assets, reproducible generation, checks."""

import filecmp
import json
import pathlib

import numpy as np
import pytest
import trimesh

from c2f_sdf_ros.data.synth.generate import SynthConfig, generate
from c2f_sdf_ros.data.synth.gltf_hand import SkinSdf

# The rigged hands live beside the repository (../shared/assets/hands/README.md); tests
# that need them skip where they are absent.
HANDS = pathlib.Path(__file__).resolve().parents[3] / 'shared' / 'assets' / 'hands'
GODOT = HANDS / 'godot_xr_tools'
WEBXR = HANDS / 'webxr_generic'
needs_assets = pytest.mark.skipif(not (GODOT / 'hand_r.gltf').is_file()
                                  or not (WEBXR / 'right.glb').is_file(),
                                  reason='rigged hand assets not found at ../shared/assets/hands')


def generate_reproducibly(config: SynthConfig, root: pathlib.Path, seed: int,
                          frames: int = 2) -> dict:
    """
    Generate ``frames`` test frames with one worker and again with two; assert equal bytes.

    Returns the first folder's ``info.json`` (the folder is ``root / 'a'``).
    """
    first, second = root / 'a', root / 'b'
    ids = generate(first, frames, seed=seed, split='test', config=config)
    assert ids == [f'{i:06d}' for i in range(frames)]
    generate(second, frames, seed=seed, split='test', config=config, workers=2)
    files = sorted(p.relative_to(first) for p in first.rglob('*') if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob('*') if p.is_file())
    _, mismatch, errors = filecmp.cmpfiles(first, second, [str(f) for f in files],
                                           shallow=False)
    assert mismatch == [] and errors == []
    return json.loads((first / 'info.json').read_text())


def check_skinned_frame(root: pathlib.Path, frame_id: str) -> dict:
    """
    Assert a rigged-hand frame's mesh, SDF samples and joints agree; return its meta.

    The hand mesh is watertight, ``sdf_hand`` is its winding-number signed distance, and
    the joints lie inside or on the skin (the fingertips one radius inside).
    """
    meta = json.loads((root / 'meta' / f'{frame_id}.json').read_text())
    mesh = trimesh.load(root / 'mesh' / f'{frame_id}_hand.ply', process=False)
    assert mesh.is_watertight
    samples = np.load(root / 'sdf' / f'{frame_id}.npy')
    np.testing.assert_allclose(samples[:, 3], SkinSdf(mesh)(samples[:, :3]), atol=1e-5)
    assert (SkinSdf(mesh)(np.array(meta['joints_3d'])[1:]) < 0.002).all()
    assert meta['visible_pixels']['hand'] > 0
    return meta
