"""The MANO layer: safe loading of the official pickle structure, the equations, closure."""

import dataclasses
import pickle
import pickletools
import sys

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
import torch
import trimesh

from c2f_sdf_ros.data.mano import (
    JOINT_NAMES,
    JOINT_ORDER,
    MANO_JOINT_NAMES,
    TIP_VERTICES,
    ManoLayer,
    axis_angle_to_matrix,
    load_mano_pickle,
)
from c2f_sdf_ros.data.mesh_repair import boundary_loops, closed_faces, watertight_mesh
from helpers.mano_fixture import dump_official_pickle, make_mano_fixture, write_mano_fixture


@pytest.fixture(scope='module')
def mano_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp('mano')
    return {side: write_mano_fixture(folder / f'MANO_{side.upper()}.pkl', side, seed=3)
            for side in ('right', 'left')}


@pytest.fixture(scope='module')
def params(mano_files):
    return load_mano_pickle(mano_files['right'])


def _globals_in(path):
    return {arg for op, arg, _ in pickletools.genops(path.read_bytes())
            if op.name in ('GLOBAL', 'STACK_GLOBAL')}


# --------------------------------------------------------------------------------------
# Loading


def test_fixture_has_the_official_pickle_structure(mano_files):
    data = mano_files['right'].read_bytes()
    first = next(pickletools.genops(data))
    assert (first[0].name, first[1]) == ('PROTO', 2)
    names = _globals_in(mano_files['right'])
    assert 'chumpy.ch Ch' in names
    assert 'scipy.sparse.csc csc_matrix' in names
    assert 'numpy.core.multiarray _reconstruct' in names
    assert b'\xff\xff\xff\xff' in data or b'4294967295' in data  # the root's parent


@pytest.mark.parametrize('legacy_names', [True, False])
def test_loads_without_chumpy(tmp_path, legacy_names):
    path = write_mano_fixture(tmp_path / 'MANO_RIGHT.pkl', legacy_names=legacy_names)
    if not legacy_names:
        assert 'scipy.sparse._csc csc_matrix' in _globals_in(path)
    params = load_mano_pickle(path)
    assert 'chumpy' not in sys.modules
    assert params.side == 'right'
    shapes = {'v_template': (778, 3), 'shapedirs': (778, 3, 10), 'posedirs': (778, 3, 135),
              'J_regressor': (16, 778), 'weights': (778, 16), 'kintree_parents': (16,),
              'faces': (1538, 3), 'hands_components': (45, 45), 'hands_mean': (45,)}
    for name, shape in shapes.items():
        assert getattr(params, name).shape == shape, name
    assert params.kintree_parents.tolist() == [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0,
                                               13, 14]
    assert params.faces.dtype == np.int64 and params.v_template.dtype == np.float64
    original = make_mano_fixture('right', seed=0)
    np.testing.assert_array_equal(params.shapedirs, original['shapedirs'].x)
    np.testing.assert_array_equal(params.J_regressor, original['J_regressor'].toarray())
    np.testing.assert_allclose(params.J_regressor.sum(1), 1.0)
    np.testing.assert_allclose(params.weights.sum(1), 1.0)
    with pytest.raises(ValueError):
        params.v_template[0, 0] = 1.0  # read-only: the dataclass is frozen
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.side = 'left'


def test_loads_a_file_resaved_by_python3(tmp_path):
    data = make_mano_fixture()
    data['shapedirs'] = data['shapedirs'].x  # chumpy-free copies hold plain arrays
    path = tmp_path / 'MANO_RIGHT.pkl'
    for protocol in (2, 5):
        path.write_bytes(pickle.dumps(data, protocol=protocol))
        params = load_mano_pickle(path)
        np.testing.assert_array_equal(params.shapedirs, data['shapedirs'])
        np.testing.assert_array_equal(params.J_regressor, data['J_regressor'].toarray())


def test_side_from_name_or_argument(mano_files, tmp_path):
    assert load_mano_pickle(mano_files['left']).side == 'left'
    other = tmp_path / 'hand_model.pkl'
    other.write_bytes(mano_files['left'].read_bytes())
    with pytest.raises(ValueError, match='side'):
        load_mano_pickle(other)
    assert load_mano_pickle(other, side='left').side == 'left'
    with pytest.raises(ValueError, match='side'):
        load_mano_pickle(other, side='both')


@pytest.mark.parametrize('payload', [
    b"cos\nsystem\n(S'touch {marker}'\ntR.",
    b"cposix\nsystem\n(S'touch {marker}'\ntR.",
    b"c__builtin__\neval\n(S'open(\"{marker}\", \"w\")'\ntR.",
    b"cbuiltins\nexec\n(S'open(\"{marker}\", \"w\")'\ntR.",
    b"csubprocess\ncheck_call\n((S'touch'\nS'{marker}'\nltR.",
    b"cnumpy\nload\n(S'{marker}'\ntR.",
    b"c_codecs\nencode\n(S'abc'\nS'rot13'\ntR.",
], ids=['os.system', 'posix.system', 'eval', 'exec', 'subprocess', 'numpy.load', 'codecs'])
def test_refuses_disallowed_globals(tmp_path, payload):
    marker = tmp_path / 'executed'
    path = tmp_path / 'MANO_RIGHT.pkl'
    path.write_bytes(payload.replace(b'{marker}', str(marker).encode()))
    with pytest.raises(pickle.UnpicklingError, match=r'MANO_RIGHT\.pkl: refusing'):
        load_mano_pickle(path)
    assert not marker.exists()


def test_refuses_a_disallowed_global_inside_a_mano_dict(tmp_path):
    data = make_mano_fixture()
    data['posedirs'] = Rotation.identity()  # any class outside the allow-list
    path = dump_official_pickle(data, tmp_path / 'MANO_RIGHT.pkl')
    with pytest.raises(pickle.UnpicklingError, match='scipy.spatial'):
        load_mano_pickle(path)


def test_clear_errors_for_missing_or_wrong_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='MANO_RIGHT.pkl'):
        load_mano_pickle(tmp_path / 'MANO_RIGHT.pkl')
    path = tmp_path / 'MANO_RIGHT.pkl'
    dump_official_pickle([1, 2, 3], path)
    with pytest.raises(ValueError, match='not a MANO model file'):
        load_mano_pickle(path)
    data = make_mano_fixture()
    del data['weights'], data['f']
    dump_official_pickle(data, path)
    with pytest.raises(ValueError, match=r"missing keys \['weights', 'f'\]"):
        load_mano_pickle(path)
    data = make_mano_fixture()
    data['posedirs'] = data['posedirs'][:, :, :100]
    dump_official_pickle(data, path)
    with pytest.raises(ValueError, match='posedirs must have shape'):
        load_mano_pickle(path)
    data = make_mano_fixture()
    data['f'] = data['f'] + 1000
    dump_official_pickle(data, path)
    with pytest.raises(ValueError, match='faces'):
        load_mano_pickle(path)
    data = make_mano_fixture()
    data['bs_type'] = 'lrotmin_quat'
    dump_official_pickle(data, path)
    with pytest.raises(ValueError, match='bs_type'):
        load_mano_pickle(path)
    path.write_bytes(b'not a pickle at all')
    with pytest.raises(pickle.UnpicklingError):
        load_mano_pickle(path)


# --------------------------------------------------------------------------------------
# The equations


def _reference(params, global_orient, finger_pose, betas, transl):
    """The published MANO/SMPL equations for one hand, joint by joint, in float64."""
    pose = np.concatenate([global_orient, finger_pose]).reshape(16, 3)
    rotations = [Rotation.from_rotvec(r).as_matrix() for r in pose]
    v_shaped = params.v_template + params.shapedirs @ betas
    rest = params.J_regressor @ v_shaped
    features = np.concatenate([(r - np.eye(3)).ravel() for r in rotations[1:]])
    v_posed = v_shaped + params.posedirs @ features
    world = []
    for joint in range(16):
        parent = params.kintree_parents[joint]
        local = np.eye(4)
        local[:3, :3] = rotations[joint]
        local[:3, 3] = rest[joint] - (rest[parent] if parent >= 0 else 0.0)
        world.append(local if parent < 0 else world[parent] @ local)
    skinning = []
    for joint in range(16):
        unposed = np.eye(4)
        unposed[:3, 3] = -rest[joint]
        skinning.append(world[joint] @ unposed)
    vertices = np.empty_like(v_posed)
    for v in range(len(v_posed)):
        blend = sum(params.weights[v, j] * skinning[j] for j in range(16))
        vertices[v] = (blend @ np.append(v_posed[v], 1.0))[:3] + transl
    joints = [w[:3, 3] + transl for w in world] + [vertices[t] for t in TIP_VERTICES]
    return vertices, np.asarray(joints)[list(JOINT_ORDER)]


@pytest.mark.parametrize('side', ['right', 'left'])
def test_matches_a_loop_based_reference(mano_files, side):
    params = load_mano_pickle(mano_files[side])
    layer = ManoLayer(params, use_pca=True, num_pca=12, flat_hand_mean=False)
    rng = np.random.default_rng(7)
    orient = rng.normal(scale=0.8, size=(2, 3))
    coefficients = rng.normal(scale=1.0, size=(2, 12))
    betas = rng.normal(size=(2, 10))
    transl = rng.normal(scale=0.2, size=(2, 3))
    out = layer(torch.tensor(orient, dtype=torch.float32),
                torch.tensor(coefficients, dtype=torch.float32),
                torch.tensor(betas, dtype=torch.float32),
                torch.tensor(transl, dtype=torch.float32))
    assert out.vertices.shape == (2, 778, 3) and out.joints.shape == (2, 21, 3)
    for b in range(2):
        finger_pose = params.hands_mean + coefficients[b] @ params.hands_components[:12]
        vertices, joints = _reference(params, orient[b], finger_pose, betas[b], transl[b])
        np.testing.assert_allclose(out.vertices[b].numpy(), vertices, atol=1e-5, rtol=0)
        np.testing.assert_allclose(out.joints[b].numpy(), joints, atol=1e-5, rtol=0)


def test_zero_pose_and_shape_give_the_template(params):
    expected_joints = np.concatenate([params.J_regressor @ params.v_template,
                                      params.v_template[list(TIP_VERTICES)]])
    expected_joints = expected_joints[list(JOINT_ORDER)]
    for dtype, atol in ((torch.float64, 1e-12), (torch.float32, 1e-6)):
        layer = ManoLayer(params, use_pca=True, num_pca=45, flat_hand_mean=True, dtype=dtype)
        out = layer(torch.zeros(3, 3, dtype=dtype), torch.zeros(3, 45, dtype=dtype),
                    torch.zeros(3, 10, dtype=dtype))
        for b in range(3):
            np.testing.assert_allclose(out.vertices[b].numpy(), params.v_template, atol=atol,
                                       rtol=0)
            np.testing.assert_allclose(out.joints[b].numpy(), expected_joints, atol=atol,
                                       rtol=0)
    assert JOINT_NAMES[JOINT_ORDER.index(1)] == 'index1' == MANO_JOINT_NAMES[1]


def test_rotating_index1_moves_only_its_subtree(params):
    layer = ManoLayer(params, use_pca=False, flat_hand_mean=True, dtype=torch.float64)
    betas = torch.tensor(np.random.default_rng(1).normal(size=(1, 10)))
    rest = layer(torch.zeros(1, 3, dtype=torch.float64),
                 torch.zeros(1, 45, dtype=torch.float64), betas)
    pose = torch.zeros(1, 45, dtype=torch.float64)
    pose[0, 0:3] = torch.tensor([0.3, -0.4, 0.5])  # joint 1 of the full pose: index1
    bent = layer(torch.zeros(1, 3, dtype=torch.float64), pose, betas)

    moved = (bent.vertices - rest.vertices).norm(dim=-1)[0].numpy()
    subtree = [1, 2, 3]  # index1, index2, index3
    influenced = (params.weights[:, subtree] > 0).any(1)
    influenced |= (params.posedirs[:, :, 0:9] != 0).any((1, 2))
    assert 0 < influenced.sum() < 778
    assert np.all(moved[~influenced] == 0.0)
    assert moved[influenced].min() > 1e-6

    joint_moved = (bent.joints - rest.joints).norm(dim=-1)[0].numpy() > 1e-9
    expected = [name in ('index2', 'index3', 'index4') for name in JOINT_NAMES]
    assert joint_moved.tolist() == expected


def test_pca_equals_the_equivalent_full_pose(params):
    rng = np.random.default_rng(2)
    orient = torch.tensor(rng.normal(size=(2, 3)), dtype=torch.float32)
    coefficients = torch.tensor(rng.normal(size=(2, 10)), dtype=torch.float32)
    betas = torch.tensor(rng.normal(size=(2, 10)), dtype=torch.float32)
    for flat in (False, True):
        pca = ManoLayer(params, use_pca=True, num_pca=10, flat_hand_mean=flat)
        full = ManoLayer(params, use_pca=False, flat_hand_mean=flat)
        full_pose = coefficients @ torch.tensor(params.hands_components[:10],
                                                dtype=torch.float32)
        a, b = pca(orient, coefficients, betas), full(orient, full_pose, betas)
        torch.testing.assert_close(a.vertices, b.vertices)
        torch.testing.assert_close(a.joints, b.joints)
        torch.testing.assert_close(pca.full_pose(orient, coefficients),
                                   full.full_pose(orient, full_pose))


def test_rodrigues_matches_scipy_and_is_stable_at_zero():
    rng = np.random.default_rng(4)
    vectors = np.concatenate([rng.normal(size=(20, 3)), rng.normal(size=(5, 3)) * 1e-7,
                              np.zeros((1, 3)), [[np.pi, 0, 0]]])
    ours = axis_angle_to_matrix(torch.tensor(vectors)).numpy()
    np.testing.assert_allclose(ours, Rotation.from_rotvec(vectors).as_matrix(), atol=1e-12)
    zero = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    axis_angle_to_matrix(zero)[..., 0, 1].sum().backward()
    np.testing.assert_allclose(zero.grad.numpy(), [[0, 0, -1]] * 2)


def test_bad_shapes_are_value_errors(params):
    layer = ManoLayer(params, num_pca=6)
    good = torch.zeros(2, 3), torch.zeros(2, 6), torch.zeros(2, 10)
    layer(*good)
    bad_calls = [
        (torch.zeros(2, 4), good[1], good[2]),
        (good[0], torch.zeros(2, 45), good[2]),
        (good[0], torch.zeros(3, 6), good[2]),
        (good[0], good[1], torch.zeros(2, 9)),
        (torch.zeros(3), good[1], good[2]),
    ]
    for call in bad_calls:
        with pytest.raises(ValueError):
            layer(*call)
    with pytest.raises(ValueError, match='transl'):
        layer(*good, transl=torch.zeros(2, 2))
    with pytest.raises(ValueError, match='num_pca'):
        ManoLayer(params, num_pca=0)
    with pytest.raises(ValueError, match='tip_vertices'):
        ManoLayer(params, tip_vertices=(1, 2, 3))
    with pytest.raises(ValueError, match='vertices'):
        layer.watertight(torch.zeros(2, 777, 3))


# --------------------------------------------------------------------------------------
# Watertight closure


def test_closed_template_is_watertight(mano_files, params):
    assert not trimesh.Trimesh(params.v_template, params.faces, process=False).is_watertight
    loops = boundary_loops(params.faces)
    assert len(loops) == 1 and len(loops[0]) == 16
    for side in ('right', 'left'):
        side_params = load_mano_pickle(mano_files[side])
        vertices, faces = watertight_mesh(side_params.v_template, side_params.faces)
        assert vertices.shape == (779, 3) and faces.shape == (1554, 3)
        mesh = trimesh.Trimesh(vertices, faces, process=False)
        assert mesh.is_watertight and mesh.is_winding_consistent
        assert mesh.volume > 0  # the fan keeps the outward orientation
        loop = boundary_loops(side_params.faces)[0]
        np.testing.assert_allclose(vertices[-1], side_params.v_template[loop].mean(0))


def test_layer_closes_posed_batches(params):
    layer = ManoLayer(params, num_pca=6)
    rng = np.random.default_rng(5)
    out = layer(torch.tensor(rng.normal(size=(2, 3)), dtype=torch.float32),
                torch.tensor(rng.normal(size=(2, 6)), dtype=torch.float32),
                torch.tensor(rng.normal(size=(2, 10)), dtype=torch.float32))
    vertices, faces = layer.watertight(out.vertices)
    assert vertices.shape == (2, 779, 3) and faces.shape == (1554, 3)
    assert faces.dtype == torch.long
    torch.testing.assert_close(vertices[:, :778], out.vertices)
    for b in range(2):
        mesh = trimesh.Trimesh(vertices[b].numpy(), faces.numpy(), process=False)
        assert mesh.is_watertight


def test_closure_needs_exactly_one_hole(params):
    closed, _ = closed_faces(params.faces, 778)
    with pytest.raises(ValueError, match='found 0'):
        closed_faces(closed, 779)
    loop = boundary_loops(params.faces)[0]
    inner = int(np.flatnonzero(~np.isin(params.faces, loop).any(1))[0])
    two_holes = np.delete(params.faces, [inner], axis=0)
    assert len(boundary_loops(two_holes)) == 2
    with pytest.raises(ValueError, match='found 2'):
        closed_faces(two_holes, 778)
