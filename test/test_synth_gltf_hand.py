"""The rigged glTF hand model of the synthetic generator (``--hand-model gltf:PATH``)."""

import base64
import json
import pathlib
import struct

import numpy as np
import pytest
import trimesh

from c2f_sdf_ros.data.synth import hand
from c2f_sdf_ros.data.synth.generate import SynthConfig
from c2f_sdf_ros.data.synth.gltf_hand import (
    HandRig,
    SkinSdf,
    _close,
    load_rig,
    read_gltf,
    resolve_hand_file,
)
from c2f_sdf_ros.data.synth.render import (
    CAMERA_PRESETS,
    SceneMesh,
    UvTexture,
    look_at,
    render,
)
from c2f_sdf_ros.geometry.mesh import surface_distance
from helpers.synth_frames import (
    GODOT,
    HANDS,
    WEBXR,
    check_skinned_frame,
    generate_reproducibly,
    needs_assets,
)

# A tiny skinned glTF written here: a tetrahedron on two joints, positions interleaved
# with normals (a byteStride), to test the reader without the assets.
TETRA = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
TETRA_FACES = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], np.uint16)
TETRA_JOINTS = np.array([[0, 1, 0, 0]] * 4, np.uint8)
TETRA_WEIGHTS = np.array([[1, 0, 0, 0], [0.5, 0.5, 0, 0], [0, 1, 0, 0], [0.25, 0.75, 0, 0]],
                         np.float32)


def tiny_gltf(skinned: bool = True) -> tuple[dict, bytes]:
    interleaved = np.concatenate([TETRA, np.zeros_like(TETRA)], axis=1).tobytes()
    inverse_bind = np.stack([np.eye(4), np.eye(4)]).astype(np.float32)
    inverse_bind[1, 3, 0] = -0.5  # column-major: translation in the last column
    chunks = [interleaved, TETRA_FACES.tobytes() + b'\0\0', TETRA_JOINTS.tobytes(),
              TETRA_WEIGHTS.tobytes(), inverse_bind.tobytes()]
    views, offset = [], 0
    for chunk in chunks:
        views.append({'buffer': 0, 'byteOffset': offset, 'byteLength': len(chunk)})
        offset += len(chunk)
    views[0]['byteStride'] = 24
    data = b''.join(chunks)
    accessors = [
        {'bufferView': 0, 'componentType': 5126, 'count': 4, 'type': 'VEC3'},
        {'bufferView': 1, 'componentType': 5123, 'count': 12, 'type': 'SCALAR'},
        {'bufferView': 2, 'componentType': 5121, 'count': 4, 'type': 'VEC4'},
        {'bufferView': 3, 'componentType': 5126, 'count': 4, 'type': 'VEC4'},
        {'bufferView': 4, 'componentType': 5126, 'count': 2, 'type': 'MAT4'}]
    mesh_node = {'mesh': 0, 'name': 'skin'}
    if skinned:
        mesh_node['skin'] = 0
    document = {
        'asset': {'version': '2.0'}, 'scene': 0, 'scenes': [{'nodes': [0, 2]}],
        'nodes': [{'name': 'Root', 'children': [1]},
                  {'name': 'Child', 'translation': [0.5, 0, 0]}, mesh_node],
        'meshes': [{'primitives': [{'attributes': {'POSITION': 0, 'JOINTS_0': 2,
                                                   'WEIGHTS_0': 3}, 'indices': 1}]}],
        'skins': [{'joints': [0, 1], 'inverseBindMatrices': 4}],
        'accessors': accessors, 'bufferViews': views,
        'buffers': [{'byteLength': len(data)}]}
    return document, data


def write_gltf(path: pathlib.Path, document: dict, data: bytes) -> pathlib.Path:
    document = json.loads(json.dumps(document))
    document['buffers'][0]['uri'] = ('data:application/octet-stream;base64,'
                                     + base64.b64encode(data).decode())
    path.write_text(json.dumps(document))
    return path


def write_glb(path: pathlib.Path, document: dict, data: bytes) -> pathlib.Path:
    text = json.dumps(document).encode()
    text += b' ' * (-len(text) % 4)
    data += b'\0' * (-len(data) % 4)
    body = (struct.pack('<II', len(text), 0x4E4F534A) + text
            + struct.pack('<II', len(data), 0x004E4942) + data)
    path.write_bytes(struct.pack('<4sII', b'glTF', 2, 12 + len(body)) + body)
    return path


@pytest.mark.parametrize('writer', [write_gltf, write_glb])
def test_reader_reads_a_skinned_mesh_from_gltf_and_glb(tmp_path, writer):
    skin = read_gltf(writer(tmp_path / ('tiny.gltf' if writer is write_gltf else 'tiny.glb'),
                            *tiny_gltf()))
    np.testing.assert_array_equal(skin.vertices, TETRA)
    np.testing.assert_array_equal(skin.faces, TETRA_FACES)
    np.testing.assert_array_equal(skin.joints, TETRA_JOINTS)
    np.testing.assert_allclose(skin.weights, TETRA_WEIGHTS)
    assert skin.joint_names == ('Root', 'Child')
    np.testing.assert_array_equal(skin.parents, [-1, 0])
    np.testing.assert_allclose(skin.bind_matrices[1][:3, 3], [0.5, 0, 0])
    assert skin.uvs is None


@pytest.mark.parametrize('name, text, reason', [
    ('missing.gltf', None, 'no glTF file'),
    ('notes.gltf', 'not json', 'not a glTF file'),
    ('other.gltf', '{"meshes": []}', 'not glTF'),
])
def test_reader_rejects_a_missing_or_foreign_file(tmp_path, name, text, reason):
    if text is not None:
        (tmp_path / name).write_text(text)
    with pytest.raises(ValueError, match=reason):
        read_gltf(tmp_path / name)


def test_reader_rejects_what_is_not_a_skinned_gltf(tmp_path):
    with pytest.raises(ValueError, match='no skinned mesh'):
        read_gltf(write_gltf(tmp_path / 'rigid.gltf', *tiny_gltf(skinned=False)))
    (tmp_path / 'hand.txt').write_text('')
    with pytest.raises(ValueError, match='not a .gltf or .glb'):
        resolve_hand_file(tmp_path / 'hand.txt')
    with pytest.raises(ValueError, match='no right-hand'):
        resolve_hand_file(tmp_path)


def test_open_boundaries_are_capped_watertight():
    sphere = trimesh.creation.icosphere(subdivisions=2)
    faces = np.asarray(sphere.faces)[1:]  # one triangle removed: a hole
    assert not trimesh.Trimesh(sphere.vertices, faces, process=False).is_watertight
    uvs = np.zeros((len(faces), 3, 2))
    closed, vertices, corner_uvs, caps = _close(np.asarray(sphere.vertices), faces, uvs)
    mesh = trimesh.Trimesh(vertices, closed, process=False)
    assert caps == 1 and mesh.is_watertight and mesh.volume > 0
    assert corner_uvs.shape == (len(closed), 3, 2)


@needs_assets
@pytest.mark.parametrize('path, vertices, triangles', [
    (GODOT / 'hand_r.gltf', 1764, 3052), (WEBXR / 'right.glb', 1360, 2314)])
def test_reader_gives_the_documented_counts(path, vertices, triangles):
    skin = read_gltf(path)
    assert skin.vertices.shape == (vertices, 3)
    assert skin.faces.shape == (triangles, 3)
    assert skin.weights.shape == (vertices, 4)
    np.testing.assert_allclose(skin.weights.sum(axis=1), 1.0, atol=1e-6)
    assert len(skin.joint_names) == len(skin.inverse_bind) == {1764: 26, 1360: 25}[vertices]


@needs_assets
def test_a_folder_names_its_right_hand_file():
    assert resolve_hand_file(GODOT).name == 'hand_r.gltf'
    assert resolve_hand_file(WEBXR).name == 'right.glb'


@needs_assets
@pytest.mark.parametrize('path', [GODOT / 'hand_r.gltf', WEBXR / 'right.glb',
                                  GODOT / 'hand_l.gltf'])
def test_skinning_with_the_bind_pose_returns_the_rest_mesh(path):
    rig = HandRig.from_skin(read_gltf(path))
    assert rig.mirrored == ('hand_l' in path.name)
    count = len(rig.bind_positions)
    rest = rig.skin(np.repeat(np.eye(3)[None], count, axis=0), rig.bind_positions)
    np.testing.assert_allclose(rest, rig.vertices, atol=1e-12)
    # And the bind pose is a right hand in the package's frame: thumb at -y, fingers +x.
    assert rig.shape.bases[0, 1] < 0 < rig.shape.bases[4, 1]
    assert np.all(rig.tips[1:, 0] > 0.12)


def winding_numbers(triangles, points, chunk=64):
    """The generalised winding number (signed solid angles / 4 pi; Van Oosterom-Strackee)."""
    numbers = np.zeros(len(points))
    for start in range(0, len(points), chunk):
        corners = triangles[None] - points[start:start + chunk, None, None]
        a, b, c = corners[..., 0, :], corners[..., 1, :], corners[..., 2, :]
        la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
        numerator = np.einsum('pfi,pfi->pf', a, np.cross(b, c))
        denominator = (la * lb * lc + np.einsum('pfi,pfi->pf', a, b) * lc
                       + np.einsum('pfi,pfi->pf', b, c) * la
                       + np.einsum('pfi,pfi->pf', c, a) * lb)
        numbers[start:start + chunk] = np.arctan2(numerator, denominator).sum(axis=1) / (
            2 * np.pi)
    return numbers


def random_pose(rng):
    limits = np.concatenate([hand.THUMB_LIMITS[None],
                             np.repeat(hand.FINGER_LIMITS[None], 4, axis=0)])
    return hand.HandPose(rng.uniform(limits[..., 0], limits[..., 1]))


@needs_assets
@pytest.mark.parametrize('name', ['godot_xr_tools', 'webxr_generic'])
@pytest.mark.parametrize('side', ['right', 'left'])
def test_posed_joints_are_the_grasp_joints_and_the_skin_follows_the_bones(name, side):
    rig = load_rig(HANDS / name)
    rng = np.random.default_rng(3)
    for _ in range(5):
        shape = rig.hand_shape(side, rng.uniform(0.85, 1.15))
        pose = random_pose(rng)
        posed = rig.pose(shape, pose)
        target = hand.forward_kinematics(shape, pose).joints
        assert np.abs(posed.joints - target).max() < 1e-3  # metres
        # Each finger bone carries both its joints (the joints above come out of the bone
        # transforms, each from one bone) ...
        rotations, translations = rig.bone_transforms(shape, pose)
        mirror = np.array([1.0, -1.0, 1.0]) if side == 'left' else np.ones(3)
        for finger in range(5):
            for k, bone in enumerate(rig.chains[finger]):
                for end in (k, k + 1):
                    offset = (rig.rest_joints[finger, end] - rig.bind_positions[bone])
                    moved = rotations[bone] @ (shape.scale * offset) + translations[bone]
                    expected = target[hand.finger_joints(finger)[end]] * mirror
                    np.testing.assert_allclose(moved, expected, atol=1e-9)
        # ... and so does the skin: vertices on one bone only keep their distances to it.
        single = rig.skin_weights[:, 0] > 0.9999
        if name == 'godot_xr_tools':  # the webxr hand blends every vertex over two bones
            assert single.sum() > 100
        moved = posed.mesh.vertices[single] * mirror
        bone = rig.skin_joints[single, 0]
        rest = (rig.vertices[single] - rig.bind_positions[bone]) * shape.scale
        np.testing.assert_allclose(
            np.einsum('vij,vj->vi', rotations[bone], rest) + translations[bone], moved,
            atol=1e-5)


@needs_assets
@pytest.mark.parametrize('side', ['right', 'left'])
def test_posed_skin_is_watertight_and_its_sdf_sign_is_the_winding_number(side):
    rig = load_rig(GODOT)
    shape = rig.hand_shape(side, 1.0)
    # A fist folds the skin into itself at the finger joints.
    fist = hand.HandPose(np.array([[0.3, 1.0, 0.8, 1.2]] + [[0.0, 1.5, 1.7, 1.2]] * 4))
    mesh = rig.pose(shape, fist).mesh
    assert mesh.is_watertight and mesh.volume > 0
    rng = np.random.default_rng(0)
    points = np.concatenate([mesh.vertices + rng.normal(0, 0.003, mesh.vertices.shape),
                             rng.uniform(mesh.bounds[0], mesh.bounds[1], (500, 3))])
    distance = SkinSdf(mesh)(points)
    inside = winding_numbers(mesh.triangles, points) > 0.5
    np.testing.assert_array_equal(distance < 0, inside)
    np.testing.assert_allclose(np.abs(distance), surface_distance(mesh, points), atol=1e-6)


@needs_assets
def test_forearm_continues_the_wrist_and_mirrors_for_a_left_hand():
    rig = load_rig(GODOT)
    right, left = rig.hand_shape('right', 1.1), rig.hand_shape('left', 1.1)
    arm, sleeve = rig.forearm(right, flexion=0.2, length=0.25, sleeve=(0.05, 1.3))
    assert arm.is_watertight and not sleeve.is_watertight  # a sleeve is open at its cuff
    skin = rig.pose(right, hand.HandPose.flat()).mesh
    # It starts at the skin's wrist end and reaches 25 cm (scaled) behind the wrist.
    start = arm.vertices[:24].mean(axis=0)
    assert abs(SkinSdf(skin)(start[None])[0]) < 0.015
    assert start[0] < skin.vertices[:, 0].min() + 0.015
    reach = -arm.vertices @ [np.cos(0.2), 0.0, np.sin(0.2)]
    assert 0.25 * 1.1 - 0.005 < reach.max() < 0.25 * 1.1 + 0.02
    mirrored, _ = rig.forearm(left, flexion=0.2, length=0.25, sleeve=(0.05, 1.3))
    np.testing.assert_allclose(mirrored.vertices, arm.vertices * [1.0, -1.0, 1.0])


def test_skin_sdf_of_a_sphere():
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.05)
    points = np.random.default_rng(1).uniform(-0.08, 0.08, (400, 3))
    exact = np.linalg.norm(points, axis=1) - 0.05
    np.testing.assert_allclose(SkinSdf(sphere)(points), exact, atol=2e-4)
    with pytest.raises(ValueError, match='watertight'):
        SkinSdf(trimesh.Trimesh(sphere.vertices, sphere.faces[1:], process=False))


def test_uv_texture_is_sampled_where_the_uvs_point():
    # A square facing the camera: its left half samples a red texel, its right half blue.
    square = trimesh.Trimesh([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]],
                             [[0, 1, 2], [0, 2, 3]], process=False)
    image = np.zeros((1, 2, 3), np.float32)
    image[0, 0], image[0, 1] = (0.9, 0.1, 0.1), (0.1, 0.1, 0.9)
    # u from 0 at x = -1 to (just under) 1 at x = 1.
    uvs = np.array([[(0.4995 * (1 + x), 0.5) for x, _, _ in square.vertices[f]]
                    for f in square.faces])
    camera = CAMERA_PRESETS['d435_640x480']
    result = render([SceneMesh(square, 1, UvTexture(image, uvs), smooth=True)], camera,
                    look_at([0, 0, 1.2], [0, 0, 0], up=(0, 1, 0)), np.random.default_rng(0))
    assert (result.mask == 1).all()
    color = result.color.astype(int)
    left, right = color[:, :300].mean(axis=(0, 1)), color[:, 340:].mean(axis=(0, 1))
    assert left[0] > 2 * left[2] and right[2] > 2 * right[0]
    with pytest.raises(ValueError, match='faces'):
        SceneMesh(square, 1, UvTexture(image, uvs[:1]))


def test_bad_hand_models_are_rejected(tmp_path):
    for bad in ('mano', 'gltf:', 'gltf', 'mesh:hand.glb'):
        with pytest.raises(ValueError, match='procedural'):
            SynthConfig(hand_model=bad)
    with pytest.raises(ValueError, match='no hand model'):
        SynthConfig(hand_model=f'gltf:{tmp_path / "missing.glb"}')


@needs_assets
def test_two_gltf_frames_are_valid_and_reproducible(tmp_path):
    config = SynthConfig(hand_model=f'gltf:{GODOT}', max_distractors=1)
    info = generate_reproducibly(config, tmp_path, seed=4)
    assert info['hand_model'] == f'gltf:{GODOT}'
    for frame_id in info['frames']:
        meta = check_skinned_frame(tmp_path / 'a', frame_id)
        assert meta['hand_model'] == 'gltf:hand_r.gltf'
        assert isinstance(meta['forearm'], bool) and isinstance(meta['sleeve'], bool)
        samples = np.load(tmp_path / 'a' / 'sdf' / f'{frame_id}.npy')
        inside = (samples[:1000, 3] < 0).mean()
        assert 0.3 < inside < 0.7
        assert meta['penetration_mm'] <= 5.0 and meta['min_gap_mm'] <= 3.0
