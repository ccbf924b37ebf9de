"""The ObMan reader against a tiny dataset in the official format made from the sample frames."""

import json
import pathlib
import pickle
import pickletools
import shutil
from types import SimpleNamespace

import numpy as np
from PIL import Image
import pytest
import trimesh

from c2f_sdf_ros.data.obman import (
    BLENDER_TO_OPENCV,
    ObMan,
    decode_depth,
    load_meta,
    load_shapenet_model,
    obman_camera,
    ray_distance_to_depth,
    shapenet_model_path,
)
from c2f_sdf_ros.data.safe_pickle import ObmanMetaUnpickler, RestrictedUnpickler
from c2f_sdf_ros.data.synth_folder import SynthFolder
from c2f_sdf_ros.geometry.mesh import MeshSdf
from helpers.mano_fixture import write_mano_fixture
from helpers.obman_fixture import SAMPLE_FRAMES, encode_depth, ray_distance, write_obman_fixture

# The keys the renderer (obman_render, blender_grasps.py) writes into every meta file.
RENDERER_KEYS = {
    'side', 'coords_2d', 'coords_3d', 'verts_3d', 'affine_transform', 'obj_path',
    'obj_scale', 'obj_texture', 'class_id', 'sample_id', 'pca_pose', 'hand_pose',
    'hand_global_rot', 'hand_trans', 'grasp_quality', 'grasp_epsilon', 'grasp_volume', 'z',
    'trans', 'pose', 'shape', 'mano_pose', 'depth_min', 'depth_max', 'hand_depth_min',
    'hand_depth_max', 'obj_depth_min', 'obj_depth_max', 'bg_path', 'sh_coeffs', 'body_tex',
    'obj_visibility_ratio'}


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    base = tmp_path_factory.mktemp('obman')
    mano_dir = base / 'mano'
    mano_dir.mkdir()
    write_mano_fixture(mano_dir / 'MANO_RIGHT.pkl', 'right', seed=0)
    frames = write_obman_fixture(base / 'obman', base / 'shapenet')
    return SimpleNamespace(root=base / 'obman', shapenet=base / 'shapenet', mano=mano_dir,
                           frames=frames, synth=SynthFolder(SAMPLE_FRAMES))


def reader(tree, split='train', **options):
    return ObMan(tree.root, split, shapenet_root=tree.shapenet, mano_dir=tree.mano, **options)


def fixture_frame(tree, split, frame_id):
    return next(f for f in tree.frames if f.split == split and f.frame_id == frame_id)


def oriented(faces):
    faces = np.asarray(faces)
    start = faces.argmin(axis=1)[:, None]
    rolled = np.take_along_axis(faces, (start + np.arange(3)) % 3, axis=1)
    return rolled[np.lexsort(rolled.T[::-1])]


def quantisation(meta, prefix=''):
    """One 8-bit depth level (m) of a channel."""
    return abs(float(meta[f'{prefix}depth_min']) - float(meta[f'{prefix}depth_max'])) / 254


# --------------------------------------------------------------------------------------
# The fixture is in the official format


def test_fixture_has_the_official_layout_and_encodings(tree):
    split = tree.root / 'train'
    assert sorted(p.name for p in (split / 'meta').iterdir()) == [
        '00000000.pkl', '00000001.pkl', '00000003.pkl']
    for frame_id in ('00000000', '00000001', '00000003'):
        assert Image.open(split / 'rgb' / f'{frame_id}.jpg').size == (256, 256)
        depth = np.asarray(Image.open(split / 'depth' / f'{frame_id}.png'))
        segm = np.asarray(Image.open(split / 'segm' / f'{frame_id}.png'))
        assert depth.shape == segm.shape == (256, 256, 3) and depth.dtype == np.uint8
        raw = (split / 'meta' / f'{frame_id}.pkl').read_bytes()
        assert raw[:2] == b'\x80\x02'  # protocol 2
        names = {arg for op, arg, _ in pickletools.genops(raw) if op.name == 'GLOBAL'}
        assert names <= {'numpy.core.multiarray _reconstruct', 'numpy.core.multiarray scalar',
                         'numpy ndarray', 'numpy dtype', '_codecs encode'}
        meta = load_meta(split / 'meta' / f'{frame_id}.pkl')
        assert RENDERER_KEYS <= set(meta)
        assert meta['side'] == 'right'
        assert meta['obj_path'] == ('/sequoia/data2/dataset/shapenet/ShapeNetCore.v2/'
                                    f'{meta["class_id"]}/{meta["sample_id"]}/models/'
                                    'model_normalized.pkl')
        # Each channel: 1 = nearest .. 255 = farthest; depth_min holds the farthest.
        for channel, prefix in ((2, ''), (1, 'hand_'), (0, 'obj_')):
            assert depth[..., channel].max() == 255 and depth[..., channel].min() == 0
            assert meta[f'{prefix}depth_min'] > meta[f'{prefix}depth_max'] > 0
        assert set(np.unique(segm)) <= {0, 22, 100}
        model = trimesh.load(shapenet_model_path(meta, tree.shapenet), force='mesh',
                             process=False, skip_materials=True)
        low, high = model.bounds
        np.testing.assert_allclose((low + high) / 2, 0, atol=1e-7)  # ShapeNet-normalised
        assert np.linalg.norm(high - low) == pytest.approx(1.0, abs=1e-6)
        assert not model.is_watertight  # repeated seam vertices, as in ShapeNet models


def test_depth_codec_follows_the_official_decoding():
    # Levels 1 and 255 decode to the meta depth_max and depth_min as stored (nearest and
    # farthest), 0 to no depth.
    levels = np.array([[0, 1, 128, 255]], np.uint8)
    decoded = decode_depth(levels, depth_min=0.9, depth_max=0.5)
    np.testing.assert_allclose(decoded, [[0.0, 0.5, 0.5 + 127 / 254 * 0.4, 0.9]], rtol=1e-6)
    distance = np.array([[0.0, 0.5, 0.61, 0.9], [np.nan, 0.7, 0.75, 0.8]])
    encoded, stored_min, stored_max = encode_depth(distance)
    assert (stored_min, stored_max) == (0.9, 0.5)
    assert encoded[0, 0] == encoded[1, 0] == 0 and encoded[0, 1] == 1 and encoded[0, 3] == 255
    back = decode_depth(encoded, stored_min, stored_max)
    valid = encoded > 0
    assert np.abs(back[valid] - distance[valid]).max() <= 0.4 / 254 / 2 + 1e-6
    camera = obman_camera()
    ray = np.full((256, 256), 0.7)
    depth = ray_distance_to_depth(ray, camera)
    assert np.all(depth <= 0.7) and depth.min() > 0.7 / np.sqrt(1 + 2 * (128 / 480) ** 2)
    np.testing.assert_allclose(ray_distance(depth), ray, rtol=1e-6)


# --------------------------------------------------------------------------------------
# Reading


def test_reads_camera_joints_and_side(tree):
    dataset = reader(tree)
    for index, frame_id in enumerate(dataset.ids):
        camera = dataset.camera(index)
        assert (camera.width, camera.height) == (256, 256)
        assert (camera.fx, camera.fy, camera.cx, camera.cy) == (480.0, 480.0, 127.5, 127.5)
        meta = dataset.meta(index)
        joints = dataset.joints(index)
        source = fixture_frame(tree, 'train', frame_id)
        synthetic = np.array(tree.synth.meta(source.source_index)['joints_3d'])
        np.testing.assert_allclose(joints, synthetic @ source.rotation.T, atol=2e-6)
        # coords_2d are in Blender's pixel convention: ours + 0.5.
        offset = camera.project(joints) + 0.5 - meta['coords_2d']
        assert np.abs(offset).max() < 1e-3
        pose = dataset.object_pose(index)
        np.testing.assert_allclose(pose[:3, 3],
                                   BLENDER_TO_OPENCV @ meta['affine_transform'][:3, 3])


def test_read_returns_a_labelled_frame(tree):
    frame = reader(tree).read(0)
    assert frame.frame_id == '00000000' and frame.side == 'right'
    assert frame.color.shape == (256, 256, 3) and frame.color.dtype == np.uint8
    assert frame.depth.shape == (256, 256) and frame.depth.dtype == np.float32
    np.testing.assert_array_equal(frame.root, frame.joints[0])
    assert frame.sdf.shape == (2200, 5) and np.all(np.isfinite(frame.sdf))
    # The wrist is at the image centre: the fixture's virtual camera looks at it.
    np.testing.assert_allclose(frame.camera.project(frame.root[None])[0], [127.5, 127.5],
                               atol=1e-3)


def test_depth_matches_the_synthetic_depth(tree):
    dataset = reader(tree)
    for index, frame_id in enumerate(dataset.ids):
        source = fixture_frame(tree, 'train', frame_id)
        depth = dataset.depth(index)
        # Expected: the synthetic pixel each ObMan pixel's ray meets (nearest), lifted and
        # expressed in the ObMan camera.
        meta_s = tree.synth.meta(source.source_index)
        K_s = np.array(meta_s['camera']['K'])
        synthetic = np.asarray(Image.open(
            SAMPLE_FRAMES / 'depth' / f'{tree.synth.ids[source.source_index]}.png')) / 1000.0
        v, u = np.indices((256, 256))
        rays = np.stack([(u - 127.5) / 480, (v - 127.5) / 480, np.ones((256, 256))], -1)
        rays_s = rays @ source.rotation
        col = np.rint(K_s[0, 0] * rays_s[..., 0] / rays_s[..., 2] + K_s[0, 2]).astype(int)
        row = np.rint(K_s[1, 1] * rays_s[..., 1] / rays_s[..., 2] + K_s[1, 2]).astype(int)
        inside = (row >= 0) & (row < synthetic.shape[0]) & (col >= 0) & (col < synthetic.shape[1])
        z_s = np.where(inside, synthetic[row.clip(0, 479), col.clip(0, 639)], 0.0)
        points = np.stack([(col - K_s[0, 2]) / K_s[0, 0], (row - K_s[1, 2]) / K_s[1, 1],
                           np.ones_like(z_s)], -1) * z_s[..., None]
        expected = (points @ source.rotation.T)[..., 2]
        np.testing.assert_array_equal(depth > 0, z_s > 0)
        valid = z_s > 0
        # Half an 8-bit level, plus up to ~0.3 mm from taking the nearest synthetic pixel.
        tolerance = quantisation(dataset.meta(index)) / 2 + 5e-4
        assert np.abs(depth[valid] - expected[valid]).max() < tolerance


def test_object_mesh_is_where_the_depth_says(tree):
    dataset = reader(tree)
    for index, frame_id in enumerate(dataset.ids):
        source = fixture_frame(tree, 'train', frame_id)
        hand, obj = dataset.meshes(index)
        assert hand.is_watertight and obj.is_watertight
        assert len(hand.vertices) == 779  # 778 MANO vertices + the wrist-closing centre
        object_distance = MeshSdf.from_mesh(obj)
        # The posed model is the synthetic object, in the ObMan camera.
        synthetic_object = tree.synth.meshes(source.source_index)[1]
        distance = object_distance(synthetic_object.vertices @ source.rotation.T)
        assert np.abs(distance).max() < 1e-5
        # Depth points on the object's pixels lie on the object mesh.
        _, object_mask = dataset.segmentation(index)
        depth = dataset.depth(index)
        points = dataset.camera(index).backproject(depth)[object_mask & (depth > 0)]
        assert len(points) > 500
        gap = np.median(np.abs(object_distance(points)))
        assert gap < quantisation(dataset.meta(index)) + 0.002
        # The object-only channel is the model itself, up to half a level.
        alone = dataset.depth(index, 'object')
        points = dataset.camera(index).backproject(alone)[alone > 0]
        half_level = quantisation(dataset.meta(index), 'obj_') / 2
        assert np.abs(object_distance(points)).max() < half_level + 1e-4


def test_segmented_depth_keeps_only_hand_and_object(tree):
    dataset = reader(tree, segmented_depth=True)
    hand, obj = dataset.segmentation(1)
    depth = dataset.depth(1)
    assert np.all(depth[~(hand | obj)] == 0) and np.count_nonzero(depth) > 100
    np.testing.assert_array_equal(depth[hand | obj], reader(tree).depth(1)[hand | obj])


def test_left_hands(tree, tmp_path):
    frames = write_obman_fixture(tmp_path / 'obman', tree.shapenet, splits={'val': {7: 0}},
                                 right_hands=False)
    assert frames[0].side == 'left'
    dataset = ObMan(tmp_path / 'obman', 'val', shapenet_root=tree.shapenet, mano_dir=tree.mano)
    assert dataset.ids == ['00000007']
    hand = dataset.hand_mesh(0)  # right faces, reversed: no MANO_LEFT.pkl here
    assert hand.is_watertight
    hand_mask, _ = dataset.segmentation(0)
    assert hand_mask.sum() > 100
    shutil.copy(tree.mano / 'MANO_RIGHT.pkl', tmp_path / 'MANO_RIGHT.pkl')
    write_mano_fixture(tmp_path / 'MANO_LEFT.pkl', 'left', seed=0)
    with_left = ObMan(tmp_path / 'obman', 'val', shapenet_root=tree.shapenet,
                      mano_dir=tmp_path)
    # The same oriented triangles (each face rotated to start at its smallest index).
    np.testing.assert_array_equal(oriented(with_left.hand_mesh(0).faces), oriented(hand.faces))


# --------------------------------------------------------------------------------------
# Splits and selection


def test_split_handling(tree, tmp_path):
    assert reader(tree).ids == ['00000000', '00000001', '00000003']
    assert len(reader(tree, 'test')) == 2
    with pytest.raises(ValueError, match="no 'val' split"):
        reader(tree, 'val')
    with pytest.raises(ValueError, match='split must be one of'):
        reader(tree, 'training')
    assert reader(tree, frame_ids=['3', '00000000']).ids == ['00000003', '00000000']
    split_file = tmp_path / 'test_6k.json'
    split_file.write_text(json.dumps(['00000002']))
    assert reader(tree, 'test', frame_ids=split_file).ids == ['00000002']
    with pytest.raises(FileNotFoundError, match='00000002'):
        reader(tree, frame_ids=['00000002'])
    assert reader(tree, mini_factor=0.5).ids == ['00000000']  # int(3 * 0.5) frames
    with pytest.raises(ValueError, match='no frames'):
        reader(tree, mini_factor=0.2)


# --------------------------------------------------------------------------------------
# SDF samples


def test_sdf_layout_determinism_and_cache(tree, tmp_path):
    dataset = reader(tree, cache_dir=tmp_path / 'cache')
    samples = dataset.sdf(2)
    assert samples.shape == (2200, 5) and samples.dtype == np.float32
    near_hand, near_object, uniform = samples[:1000], samples[1000:2000], samples[2000:]
    for near, column in ((near_hand, 3), (near_object, 4)):
        assert np.abs(near[:, column]).max() < 0.05
        assert (near[:, column] < 0).sum() > 300 and (near[:, column] > 0).sum() > 300
    root = dataset.joints(2)[0]
    assert np.abs(uniform[:, :3] - root).max() <= 0.15 + 1e-6
    cached = tmp_path / 'cache' / 'train_00000003.npy'
    np.testing.assert_array_equal(np.load(cached), samples)
    # Later reads use the cached file.
    np.save(cached, samples + 1)
    np.testing.assert_array_equal(dataset.sdf(2), samples + 1)
    # Without a cache: the same samples again from (seed, frame id), others for another seed.
    uncached = reader(tree)
    np.testing.assert_array_equal(uncached.sdf(2), samples)
    uncached.seed = 1  # the same reader, so that the object model is not loaded again
    assert not np.array_equal(uncached.sdf(2), samples)
    np.save(cached, samples[:10])
    with pytest.raises(ValueError, match='delete the file'):
        dataset.sdf(2)


# --------------------------------------------------------------------------------------
# Safety and errors


def test_meta_unpickler_refuses_code(tree, tmp_path):
    marker = tmp_path / 'ran'
    payloads = [
        f"cos\nsystem\n(S'touch {marker}'\ntR.".encode(),  # GLOBAL os.system, protocol 0
        pickle.dumps(type('Evil', (), {'__reduce__': lambda self: (
            __import__('os').system, (f'touch {marker}',))})(), protocol=2),
    ]
    for payload in payloads:
        path = tmp_path / 'meta.pkl'
        path.write_bytes(payload)
        with pytest.raises(pickle.UnpicklingError, match=r'refusing .*(os|posix)\.system'):
            load_meta(path)
    assert not marker.exists()
    # Plain arrays still load, under numpy 2's names and at protocol 5 too.
    data = {'a': np.arange(6.0).reshape(2, 3), 'b': np.float32(2.5), 'c': {1, 2}}
    path.write_bytes(pickle.dumps(data, protocol=5))
    loaded = load_meta(path)
    np.testing.assert_array_equal(loaded['a'], data['a'])
    assert loaded['b'] == np.float32(2.5) and loaded['c'] == {1, 2}
    assert issubclass(ObmanMetaUnpickler, RestrictedUnpickler)

    copy = tmp_path / 'obman'
    shutil.copytree(tree.root, copy)
    (copy / 'train' / 'meta' / '00000001.pkl').write_bytes(payloads[0])
    dataset = ObMan(copy, 'train', shapenet_root=tree.shapenet, mano_dir=tree.mano)
    with pytest.raises(pickle.UnpicklingError, match='00000001.pkl'):
        dataset.read(1)
    assert not marker.exists()


def test_clear_errors_on_a_broken_tree(tree, tmp_path):
    copy = tmp_path / 'obman'
    shutil.copytree(tree.root, copy)
    dataset = ObMan(copy, 'train', shapenet_root=tree.shapenet, mano_dir=tree.mano)
    (copy / 'train' / 'meta' / '00000001.pkl').unlink()
    with pytest.raises(FileNotFoundError, match=r'meta file not found: .*00000001\.pkl'):
        dataset.read(1)
    (copy / 'train' / 'rgb' / '00000003.jpg').unlink()
    with pytest.raises(FileNotFoundError, match=r'00000003\.jpg'):
        dataset.read(2)

    empty_shapenet = tmp_path / 'shapenet'
    empty_shapenet.mkdir()
    no_models = ObMan(copy, 'train', shapenet_root=empty_shapenet, mano_dir=tree.mano)
    with pytest.raises(FileNotFoundError, match=r'ShapeNet model not found: .*shapenet/'
                                                r'\d{8}/[0-9a-f]{32}/models/'
                                                r'model_normalized\.obj'):
        no_models.meshes(0)

    with pytest.raises(FileNotFoundError, match='ObMan folder not found'):
        ObMan(tmp_path / 'missing', shapenet_root=tree.shapenet, mano_dir=tree.mano)
    with pytest.raises(ValueError, match='not an ObMan folder'):
        ObMan(empty_shapenet, shapenet_root=tree.shapenet, mano_dir=tree.mano)
    with pytest.raises(FileNotFoundError, match='MANO_RIGHT.pkl'):
        ObMan(copy, shapenet_root=tree.shapenet, mano_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match='ShapeNet folder not found'):
        ObMan(copy, shapenet_root=tmp_path / 'nowhere', mano_dir=tree.mano)
    for name in ('00000000.pkl', '00000003.pkl'):
        (copy / 'train' / 'meta' / name).unlink()
    with pytest.raises(ValueError, match='holds no frames'):
        ObMan(copy, shapenet_root=tree.shapenet, mano_dir=tree.mano)


def test_open_models_are_repaired_or_refused(tmp_path):
    sphere = trimesh.creation.icosphere(subdivisions=2)
    one_hole = tmp_path / 'one_hole.obj'
    trimesh.Trimesh(sphere.vertices, sphere.faces[1:], process=False).export(one_hole)
    repaired = load_shapenet_model(one_hole)
    assert repaired.is_watertight and len(repaired.faces) == len(sphere.faces)
    open_model = tmp_path / 'open.obj'
    trimesh.Trimesh(sphere.vertices, sphere.faces[: len(sphere.faces) // 2],
                    process=False).export(open_model)
    with pytest.raises(ValueError, match=r'open\.obj: the object model is not watertight'):
        load_shapenet_model(open_model)
    empty = tmp_path / 'empty.obj'
    empty.write_text('# nothing\n')
    with pytest.raises(ValueError, match=r'empty\.obj: no triangles'):
        load_shapenet_model(empty)


def test_model_path_from_obj_path_when_ids_are_missing(tmp_path):
    meta = {'obj_path': '/sequoia/data2/dataset/shapenet/ShapeNetCore.v2/02876657/abc/models/'
                        'model_normalized.pkl'}
    assert shapenet_model_path(meta, tmp_path) == (
        tmp_path / '02876657' / 'abc' / 'models' / 'model_normalized.obj')
    with pytest.raises(ValueError, match='neither class_id'):
        shapenet_model_path({}, tmp_path)
    assert isinstance(shapenet_model_path(meta, str(tmp_path)), pathlib.Path)
