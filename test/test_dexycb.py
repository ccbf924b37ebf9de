"""The DexYCB reader on a fixture tree in the official format (made from the synthetic sample)."""

import os
import pathlib
import shutil

import numpy as np
import pytest
import trimesh

from c2f_sdf_ros.data.dexycb import (
    HAND_LABEL,
    SETUPS,
    YCB_CLASSES,
    DexYCB,
    load_ycb_model,
    read_betas,
    read_intrinsics,
)
from c2f_sdf_ros.geometry.mesh import MeshSdf
from helpers.dexycb_fixture import SAMPLE_DIR, synthetic_view, write_dexycb_fixture


@pytest.fixture(scope='module')
def fixture(tmp_path_factory):
    return write_dexycb_fixture(tmp_path_factory.mktemp('dexycb') / 'root')


@pytest.fixture(scope='module')
def train(fixture, tmp_path_factory):
    # A cache: each frame's SDF samples are then computed once for all the tests.
    return DexYCB(fixture.root, 'train', mano_dir=fixture.mano_dir, frame_stride=1,
                  cache_dir=tmp_path_factory.mktemp('train_cache'))


def linked_copy(fixture, tmp_path) -> pathlib.Path:
    """A copy of the tree made of symlinks, so a test can remove files without harm."""
    root = tmp_path / 'root'
    shutil.copytree(fixture.root, root, copy_function=os.symlink)
    return root


def view_of(fixture, frame_id):
    frame = fixture.frame(frame_id)
    return synthetic_view(fixture.frames_dir, frame.sequence.source, frame.mirrored)


def test_ycb_classes_are_the_21_dexycb_objects_in_id_order():
    assert len(YCB_CLASSES) == 21
    assert YCB_CLASSES[0] == '002_master_chef_can' and YCB_CLASSES[13] == '025_mug'
    assert YCB_CLASSES[-1] == '061_foam_brick'
    assert list(YCB_CLASSES) == sorted(YCB_CLASSES)


@pytest.mark.parametrize('split', ['train', 'val', 'test'])
def test_s0_splits_keep_right_hands_in_contact(fixture, split):
    dataset = DexYCB(fixture.root, split, mano_dir=fixture.mano_dir, frame_stride=1)
    assert dataset.ids == fixture.expected_ids(split)
    assert len(dataset) == len(dataset.ids) > 0
    for frame_id in dataset.ids:
        frame = fixture.frame(frame_id)
        assert frame.sequence.side == 'right' and frame.hand_visible and frame.in_contact
    # s0: the 5th sequence of subjects 1-2 is val, of subjects 3-10 test.
    if split != 'train':
        subject = '20200709-subject-01' if split == 'val' else '20200820-subject-03'
        assert {fixture.frame(i).sequence.subject for i in dataset.ids} == {subject}
        assert {dataset.sequence(i).position for i in range(len(dataset))} == {4}


def test_filters_can_be_relaxed(fixture):
    def ids(**options):
        return DexYCB(fixture.root, 'train', mano_dir=fixture.mano_dir, **options).ids

    assert ids(frame_stride=2) == fixture.expected_ids('train', frame_stride=2)
    assert ids() == fixture.expected_ids('train', frame_stride=5)  # gSDF's default: 5
    both = ids(frame_stride=1, hand_sides=('right', 'left'))
    assert both == fixture.expected_ids('train', sides=('right', 'left'))
    no_contact = {f.id for f in fixture.frames if not f.in_contact}
    assert no_contact and not no_contact & set(both)
    assert no_contact <= set(ids(frame_stride=1, contact_threshold=None))


def test_read_gives_the_synthetic_frame_back(fixture, train):
    for index in (0, len(train) - 1):
        frame_id = train.ids[index]
        view, frame = view_of(fixture, frame_id), train.read(index)
        assert frame.frame_id == frame_id and frame.side == 'right'
        np.testing.assert_array_equal(frame.camera.K, view.camera.K)
        assert frame.camera.size == (640, 480)
        assert frame.depth.dtype == np.float32
        np.testing.assert_allclose(frame.depth, view.depth_mm / 1000.0, atol=1e-6)
        assert frame.color.shape == (480, 640, 3) and frame.color.dtype == np.uint8
        assert np.abs(frame.color.astype(int) - view.color).mean() < 3  # JPEG, quality 95
        np.testing.assert_allclose(frame.joints, view.joints, atol=1e-6)
        np.testing.assert_array_equal(frame.root, frame.joints[0])
        np.testing.assert_allclose(frame.object_center, view.camera_T_object[:3, 3], atol=1e-6)


def test_left_hand_sequences_read_unmirrored(fixture):
    left = DexYCB(fixture.root, 'train', mano_dir=fixture.mano_dir, frame_stride=1,
                  hand_sides=('left',), contact_threshold=None)
    frame, view = left.read(0), view_of(fixture, left.ids[0])
    assert frame.side == 'left' and not fixture.frame(left.ids[0]).mirrored
    np.testing.assert_allclose(frame.depth, view.depth_mm / 1000.0, atol=1e-6)


def test_joints_project_onto_joint_2d(train):
    for index in range(len(train)):
        labels = train.labels(index)
        camera = train.camera(index)
        error = camera.project(labels['joint_3d'][0]) - labels['joint_2d'][0]
        assert np.abs(error).max() < 0.5


def test_seg_matches_the_synthetic_mask(fixture, train):
    index = 0
    view, labels = view_of(fixture, train.ids[index]), train.labels(index)
    seg, grasped = labels['seg'], train.sequence(index).grasped_id
    assert seg.dtype == np.uint8 and seg.shape == (480, 640)
    np.testing.assert_array_equal(seg == HAND_LABEL, view.mask == 1)
    np.testing.assert_array_equal(seg == grasped, view.mask == 2)
    assert set(np.unique(seg)) == {0, grasped, HAND_LABEL}


def test_object_mesh_lies_where_the_depth_says(train):
    for index in (0, len(train) - 1):
        frame, labels = train.read(index), train.labels(index)
        hand, obj = train.meshes(index)
        assert hand.is_watertight and obj.is_watertight
        mask = (labels['seg'] == train.sequence(index).grasped_id) & (frame.depth > 0)
        points = frame.camera.backproject(frame.depth)[mask]
        distances = np.abs(MeshSdf.from_mesh(obj)(points))
        assert len(points) > 500 and np.median(distances) < 0.005
        # The hand: MANO posed by pose_m with its wrist at the labelled wrist.
        assert np.linalg.norm(hand.vertices - frame.root, axis=1).min() < 0.03
        assert np.abs(MeshSdf.from_mesh(hand)(hand.vertices[:100])).max() < 1e-6


def test_object_center_can_be_the_bounding_box_centre(fixture, train):
    bbox = DexYCB(fixture.root, 'train', mano_dir=fixture.mano_dir, frame_stride=1,
                  object_center='bbox', cache_dir=train.cache_dir)
    index = len(train) - 1
    sequence = train.sequence(index)
    model = load_ycb_model(fixture.root / 'models' / YCB_CLASSES[sequence.grasped_id - 1]
                           / 'textured_simple.obj')
    pose = train.labels(index)['pose_y'][sequence.grasp_index].astype(float)
    expected = pose[:, :3] @ model.bounds.mean(axis=0) + pose[:, 3]
    np.testing.assert_allclose(bbox.read(index).object_center, expected, atol=1e-9)
    np.testing.assert_allclose(train.read(index).object_center, pose[:, 3], atol=1e-9)


def test_sdf_samples_and_their_cache(fixture, tmp_path):
    cache = tmp_path / 'cache'
    dataset = DexYCB(fixture.root, 'test', mano_dir=fixture.mano_dir, frame_stride=1,
                     cache_dir=cache, seed=3)
    frame = dataset.read(0)
    sdf = frame.sdf
    assert sdf.shape == (2200, 5) and np.all(np.isfinite(sdf))
    near_hand, near_object, uniform = sdf[:1000], sdf[1000:2000], sdf[2000:]
    assert np.median(np.abs(near_hand[:, 3])) < 0.01
    assert np.median(np.abs(near_object[:, 4])) < 0.01
    assert 0.3 < np.mean(near_hand[:, 3] < 0) < 0.7
    assert 0.3 < np.mean(near_object[:, 4] < 0) < 0.7
    assert np.all(np.abs(uniform[:, :3] - frame.root) <= 0.15 + 1e-6)

    stored = cache / f'{dataset.ids[0].replace("/", "_")}.npy'
    assert stored.is_file() and np.load(stored).dtype == np.float32
    assert (cache / 'index_s0_test.json').is_file()
    again = DexYCB(fixture.root, 'test', mano_dir=fixture.mano_dir, frame_stride=1,
                   cache_dir=cache, seed=3)
    np.testing.assert_array_equal(again.read(0).sdf, sdf)
    # Without a cache the same seed gives the same samples; the cached file is what is read.
    uncached = DexYCB(fixture.root, 'test', mano_dir=fixture.mano_dir, frame_stride=1, seed=3)
    np.testing.assert_array_equal(uncached.sdf(0), sdf.astype(np.float32))
    np.save(stored, np.full((2200, 5), 7.0, np.float32))
    assert np.all(again.read(0).sdf == 7.0)


def test_the_frame_index_is_cached(fixture, tmp_path):
    root, cache = linked_copy(fixture, tmp_path), tmp_path / 'cache'
    first = DexYCB(root, 'val', mano_dir=fixture.mano_dir, frame_stride=1, cache_dir=cache)
    # The cached selection needs no label file; a different stride is selected anew.
    (root / first.ids[-1]).parent.joinpath('labels_000002.npz').unlink()
    assert DexYCB(root, 'val', mano_dir=fixture.mano_dir, frame_stride=1,
                  cache_dir=cache).ids == first.ids
    with pytest.raises(FileNotFoundError, match='labels_000002.npz'):
        DexYCB(root, 'val', mano_dir=fixture.mano_dir, frame_stride=2, cache_dir=cache)


def test_broken_trees_fail_with_clear_errors(fixture, tmp_path):
    mano = fixture.mano_dir
    with pytest.raises(ValueError, match='not a DexYCB folder'):
        DexYCB(SAMPLE_DIR, 'train', mano_dir=mano)
    with pytest.raises(ValueError, match='mano_dir is required'):
        DexYCB(fixture.root, 'train')
    with pytest.raises(FileNotFoundError, match='MANO_RIGHT.pkl'):
        DexYCB(fixture.root, 'train', mano_dir=tmp_path)
    with pytest.raises(ValueError, match='holds no frame'):
        DexYCB(fixture.root, 'val', mano_dir=mano, hand_sides=('left',))

    root = linked_copy(fixture, tmp_path)
    intrinsics = next((root / 'calibration' / 'intrinsics').glob('*_640x480.yml'))
    intrinsics.unlink()
    with pytest.raises(FileNotFoundError, match=f'calibration.*{intrinsics.name}'):
        DexYCB(root, 'train', mano_dir=mano, hand_sides=('right', 'left'))

    root = linked_copy(fixture, tmp_path / 'labels')
    missing = root / fixture.expected_ids('test')[0]
    missing = missing.parent / f'labels_{missing.name}.npz'
    missing.unlink()
    with pytest.raises(FileNotFoundError, match=f'labels.*{missing.name}'):
        DexYCB(root, 'test', mano_dir=mano, frame_stride=1)

    root = linked_copy(fixture, tmp_path / 'models')
    grasped = fixture.frame(fixture.expected_ids('test')[0]).grasped_id
    shutil.rmtree(root / 'models' / YCB_CLASSES[grasped - 1])
    with pytest.raises(FileNotFoundError, match=f'model.*{YCB_CLASSES[grasped - 1]}'):
        DexYCB(root, 'test', mano_dir=mano, frame_stride=1)


@pytest.mark.parametrize('options, message', [
    ({'split': 'bogus'}, 'split must be'),
    ({'setup': 's9'}, 'setup must be'),
    ({'frame_stride': 0}, 'frame_stride'),
    ({'contact_threshold': -1.0}, 'contact_threshold'),
    ({'hand_sides': ('up',)}, 'hand_sides'),
    ({'object_center': 'middle'}, 'object_center'),
])
def test_bad_arguments_are_refused(fixture, options, message):
    with pytest.raises(ValueError, match=message):
        DexYCB(fixture.root, **{'mano_dir': fixture.mano_dir, **options})


def test_other_setups_use_the_toolkit_rules():
    assert SETUPS['s1']['test'].subjects == (7, 8)
    assert SETUPS['s2']['val'].serials == (6,)
    assert [i for i in range(20) if SETUPS['s3']['val'].sequence(i)] == [15, 16, 17, 18, 19]


def test_models_are_merged_at_texture_seams_and_open_ones_refused(tmp_path):
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.05)
    # Every triangle with its own vertices, as texture seams split a textured OBJ.
    split = trimesh.Trimesh(sphere.vertices[sphere.faces].reshape(-1, 3),
                            np.arange(3 * len(sphere.faces)).reshape(-1, 3), process=False)
    split.export(tmp_path / 'split.obj')
    model = load_ycb_model(tmp_path / 'split.obj')
    assert model.is_watertight and len(model.vertices) == len(sphere.vertices)

    around = sphere.vertex_faces[0][sphere.vertex_faces[0] >= 0]
    keep = np.setdiff1d(np.arange(len(sphere.faces)), around)
    trimesh.Trimesh(sphere.vertices, sphere.faces[keep]).export(tmp_path / 'open.obj')
    with pytest.raises(ValueError, match='open.obj.*not watertight'):
        load_ycb_model(tmp_path / 'open.obj')
    with pytest.raises(FileNotFoundError, match='missing.obj'):
        load_ycb_model(tmp_path / 'missing.obj')


# --------------------------------------------------------------------------------------
# YAML and label files as the release writes them, and files that try to run code

# calibration/intrinsics/836212060125_640x480.yml of the release, as PyYAML dumped it.
RELEASE_INTRINSICS = """\
color: {fx: 616.64, fy: 616.26, ppx: 308.55, ppy: 248.52}
depth: {fx: 385.05, fy: 385.05, ppx: 318.87, ppy: 240.35}
extrinsics: !!python/tuple
- 0.99998
- 0.0052
- -0.0031
- 0.0148
- -0.0052
- 0.99998
- 0.0021
- 0.0001
- 0.0031
- -0.0021
- 0.99999
- 0.0003
"""


def test_intrinsics_with_python_tuple_tags_are_read(tmp_path):
    folder = tmp_path / 'calibration' / 'intrinsics'
    folder.mkdir(parents=True)
    (folder / '836212060125_640x480.yml').write_text(RELEASE_INTRINSICS)
    camera = read_intrinsics(tmp_path, '836212060125')
    assert (camera.fx, camera.fy, camera.cx, camera.cy) == (616.64, 616.26, 308.55, 248.52)
    assert camera.size == (640, 480)


def test_the_fixture_writes_the_release_tags(fixture, train):
    # The fixture tests above then read tagged files, as the release's.
    for path in (fixture.root / 'calibration' / 'intrinsics').glob('*.yml'):
        assert 'extrinsics: !!python/tuple\n' in path.read_text()
    assert len(train) > 0


@pytest.mark.parametrize('tagged', [
    "!!python/object/apply:os.system ['touch {marker}']",
    '!!python/name:os.system',
    "!!python/object/new:subprocess.Popen [['touch', '{marker}']]",
])
def test_yaml_tags_that_build_objects_are_refused(tmp_path, tagged):
    marker = tmp_path / 'ran'
    folder = tmp_path / 'calibration' / 'intrinsics'
    folder.mkdir(parents=True)
    path = folder / '836212060125_640x480.yml'
    color = RELEASE_INTRINSICS.splitlines()[0]
    path.write_text(f'{color}\nextrinsics: {tagged.format(marker=marker)}\n')
    tag = tagged.split()[0].removeprefix('!!')
    with pytest.raises(ValueError, match=f'{path.name}: refusing the YAML tag .*{tag}'):
        read_intrinsics(tmp_path, '836212060125')
    calibration = tmp_path / 'calibration' / 'mano_subject'
    calibration.mkdir()
    (calibration / 'mano.yml').write_text(f'betas: {tagged.format(marker=marker)}\n')
    with pytest.raises(ValueError, match=f'mano.yml: refusing the YAML tag .*{tag}'):
        read_betas(tmp_path, 'subject')
    assert not marker.exists()


def test_meta_yml_with_a_refused_tag_names_the_file(fixture, tmp_path):
    root = linked_copy(fixture, tmp_path)
    sequence = fixture.frames[0].sequence
    meta = root / sequence.subject / sequence.name / 'meta.yml'
    text = meta.read_text()
    meta.unlink()  # a symlink into the shared fixture
    meta.write_text(text + 'pcd: !!python/object/apply:os.getcwd []\n')
    with pytest.raises(ValueError, match=r'meta\.yml: refusing the YAML tag'):
        DexYCB(root, 'train', mano_dir=fixture.mano_dir)


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


def test_label_files_with_pickled_objects_are_refused(fixture, tmp_path):
    root, marker = linked_copy(fixture, tmp_path), tmp_path / 'ran'
    dataset = DexYCB(root, 'test', mano_dir=fixture.mano_dir, frame_stride=1)
    path = dataset.files(0)['labels']
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    path.unlink()
    arrays['seg'] = np.array([_RunsCode(marker)], dtype=object)
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=f'{path.name}: .*allow_pickle'):
        dataset.labels(0)
    assert not marker.exists()
