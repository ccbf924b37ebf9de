"""MANO model files as the synthetic generator's hand (``--hand-model mano:PATH``)."""


import numpy as np
import pytest

from c2f_sdf_ros.data.mano import load_mano_pickle
from c2f_sdf_ros.data.synth import hand
from c2f_sdf_ros.data.synth.generate import SynthConfig, load_hand_rig
from c2f_sdf_ros.data.synth.gltf_hand import HandRig, load_rig
from c2f_sdf_ros.data.synth.mano_hand import (
    INFLUENCES,
    RIG_JOINT_NAMES,
    load_mano_rig,
    mano_skin,
    resolve_mano_file,
)
from helpers.mano_fixture import (
    dump_official_pickle,
    hand_shaped_mano_fixture,
    write_mano_fixture,
)
from helpers.synth_frames import (
    GODOT,
    check_skinned_frame,
    generate_reproducibly,
    needs_assets,
)


@pytest.fixture(scope='module')
def hand_mano(tmp_path_factory):
    """A folder with MANO_RIGHT.pkl and MANO_LEFT.pkl shaped like the godot-xr-tools hand."""
    if not (GODOT / 'hand_r.gltf').is_file():
        pytest.skip('rigged hand assets not found at ../shared/assets/hands')
    folder = tmp_path_factory.mktemp('mano_hand')
    source = load_rig(GODOT)
    for side in ('right', 'left'):
        dump_official_pickle(hand_shaped_mano_fixture(source, side),
                             folder / f'MANO_{side.upper()}.pkl')
    return folder


def test_mano_skin_keeps_the_strongest_influences_and_the_regressed_joints(tmp_path):
    path = write_mano_fixture(tmp_path / 'MANO_RIGHT.pkl', 'right', seed=2)
    params = load_mano_pickle(path)
    skin = mano_skin(params, path)
    assert skin.joints.shape == skin.weights.shape == (params.num_vertices, INFLUENCES)
    np.testing.assert_allclose(skin.weights.sum(axis=1), 1.0)
    # Each kept joint is one of the vertex's strongest, in order.
    dense = params.weights
    kept = np.take_along_axis(dense, skin.joints, axis=1)
    assert (np.diff(kept, axis=1) <= 0).all()
    assert (kept[:, -1] >= np.sort(dense, axis=1)[:, -INFLUENCES]).all()
    np.testing.assert_allclose(skin.bind_matrices[:, :3, 3],
                               params.J_regressor @ params.v_template, atol=1e-12)
    np.testing.assert_allclose(skin.bind_matrices[:, :3, :3], np.eye(3)[None].repeat(16, 0))
    assert skin.joint_names == RIG_JOINT_NAMES
    assert skin.joint_names[13:16] == ('thumb_metacarpal', 'thumb_proximal', 'thumb_distal')
    # HandRig takes it; the side is the one given (MANO's template is flat).
    rig = HandRig.from_skin(skin, side='right')
    assert not rig.mirrored and rig.faces.max() < len(rig.vertices)
    assert HandRig.from_skin(skin, side='left').mirrored
    with pytest.raises(ValueError, match='side'):
        HandRig.from_skin(skin, side='both')


def test_mano_paths_are_checked(tmp_path):
    with pytest.raises(ValueError, match='no MANO model file'):
        resolve_mano_file(tmp_path / 'MANO_RIGHT.pkl')
    with pytest.raises(ValueError, match='holds no MANO model file'):
        resolve_mano_file(tmp_path)
    unnamed = write_mano_fixture(tmp_path / 'model.pkl', 'right')
    with pytest.raises(ValueError, match='cannot tell the hand side'):
        resolve_mano_file(unnamed)
    with pytest.raises(ValueError, match='no MANO model file'):
        SynthConfig(hand_model=f'mano:{tmp_path / "missing"}')
    for bad in ('mano', 'mano:', 'smplx:hand.pkl'):
        with pytest.raises(ValueError, match='mano:PATH'):
            SynthConfig(hand_model=bad)
    # A folder resolves to its right-hand file first, else the left one.
    left = write_mano_fixture(tmp_path / 'MANO_LEFT.pkl', 'left')
    assert resolve_mano_file(tmp_path) == left
    right = write_mano_fixture(tmp_path / 'MANO_RIGHT.pkl', 'right')
    assert resolve_mano_file(tmp_path) == right
    # A pickle that is no MANO file is refused with its reason.
    (tmp_path / 'bad').mkdir()
    dump_official_pickle({'v_template': np.zeros((4, 3))}, tmp_path / 'bad' / 'MANO_RIGHT.pkl')
    with pytest.raises(ValueError, match='missing keys'):
        load_mano_rig(tmp_path / 'bad')


@needs_assets
@pytest.mark.parametrize('side', ['right', 'left'])
def test_a_hand_shaped_mano_file_rigs_like_its_source_and_poses(hand_mano, side):
    source = load_rig(GODOT)
    rig = load_hand_rig(f'mano:{hand_mano / f"MANO_{side.upper()}.pkl"}')
    assert rig.mirrored == (side == 'left')
    assert rig.name == f'MANO_{side.upper()}.pkl'
    # The same hand measured through MANO's 16 joints: bones and radii within 2 mm.
    assert np.abs(rig.shape.lengths - source.shape.lengths).max() < 0.002
    assert np.abs(rig.shape.radii - source.shape.radii).max() < 0.002
    rng = np.random.default_rng(5)
    limits = np.concatenate([hand.THUMB_LIMITS[None],
                             np.repeat(hand.FINGER_LIMITS[None], 4, axis=0)])
    for grasp_side in ('right', 'left'):
        shape = rig.hand_shape(grasp_side, 1.05)
        pose = hand.HandPose(rng.uniform(limits[..., 0], limits[..., 1]))
        posed = rig.pose(shape, pose)
        target = hand.forward_kinematics(shape, pose).joints
        assert np.abs(posed.joints - target).max() < 1e-3
        assert posed.mesh.is_watertight and posed.mesh.volume > 0


@needs_assets
def test_mano_frames_are_valid_and_reproducible(hand_mano, tmp_path):
    config = SynthConfig(hand_model=f'mano:{hand_mano}', max_distractors=1)
    info = generate_reproducibly(config, tmp_path, seed=6)
    assert info['hand_model'] == f'mano:{hand_mano}'
    for frame_id in info['frames']:
        meta = check_skinned_frame(tmp_path / 'a', frame_id)
        assert meta['hand_model'] == 'mano:MANO_RIGHT.pkl'
