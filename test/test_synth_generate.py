"""Generated frames, checked from the files on disk against the acceptance criteria."""

import filecmp
import json
import pathlib
import subprocess
import sys

import numpy as np
import open3d as o3d
from PIL import Image
import pytest
import trimesh

from c2f_sdf_ros.data.frame_folder import FrameFolder
from c2f_sdf_ros.data.synth.generate import (
    SDF_NEAR_SAMPLES,
    SDF_UNIFORM_SAMPLES,
    SynthConfig,
    generate,
)
from c2f_sdf_ros.data.synth.render import LABEL_HAND, LABEL_OBJECT
from c2f_sdf_ros.geometry.camera import CameraIntrinsics

FRAMES = 4


SAMPLE = pathlib.Path(__file__).resolve().parents[1] / 'data' / 'sample'


@pytest.fixture(scope='module', params=['generated', 'bundled sample'])
def synth_dir(request, tmp_path_factory):
    if request.param == 'bundled sample':
        return SAMPLE
    root = tmp_path_factory.mktemp('synth')
    ids = generate(root, FRAMES, seed=11, split='test', workers=1)
    assert ids == [f'{i:06d}' for i in range(FRAMES)]
    return root


def frames(root):
    for frame_id in json.loads((root / 'info.json').read_text())['frames']:
        meta = json.loads((root / 'meta' / f'{frame_id}.json').read_text())
        yield frame_id, meta


def camera_of(meta):
    K = np.array(meta['camera']['K'])
    return CameraIntrinsics.from_matrix(K, meta['camera']['width'], meta['camera']['height'])


def scene_of(*meshes):
    scene = o3d.t.geometry.RaycastingScene()
    for mesh in meshes:
        scene.add_triangles(o3d.core.Tensor(np.asarray(mesh.vertices, np.float32)),
                            o3d.core.Tensor(np.asarray(mesh.faces, np.uint32)))
    return scene


def load_meshes(root, frame_id):
    return (trimesh.load(root / 'mesh' / f'{frame_id}_hand.ply', process=False),
            trimesh.load(root / 'mesh' / f'{frame_id}_object.ply', process=False))


def test_depth_agrees_with_the_ground_truth_meshes(synth_dir):
    folder = FrameFolder(synth_dir)
    for index, (frame_id, meta) in enumerate(frames(synth_dir)):
        depth = folder.read(index).depth
        mask = np.asarray(Image.open(synth_dir / 'mask' / f'{frame_id}.png'))
        camera = camera_of(meta)
        v, u = np.nonzero(((mask == LABEL_HAND) | (mask == LABEL_OBJECT)) & (depth > 0))
        assert len(v) > 100
        directions = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy,
                               np.ones(len(u))], -1)
        rays = np.concatenate([np.zeros_like(directions), directions], -1).astype(np.float32)
        hits = scene_of(*load_meshes(synth_dir, frame_id)).cast_rays(
            o3d.core.Tensor(rays))['t_hit'].numpy()
        finite = np.isfinite(hits)
        assert finite.mean() > 0.98  # hand/object pixels hit the ground-truth meshes
        error = np.abs(depth[v, u][finite] - hits[finite])
        assert np.median(error) < 0.002, (frame_id, np.median(error))


def test_joints_2d_are_the_projection_of_joints_3d(synth_dir):
    for _, meta in frames(synth_dir):
        joints = np.array(meta['joints_3d'])
        assert joints.shape == (21, 3) and np.all(joints[:, 2] > 0)
        np.testing.assert_allclose(meta['joints_2d'], camera_of(meta).project(joints),
                                   atol=1e-9)
        np.testing.assert_allclose(meta['hand_root'], joints[0])


def test_sdf_samples_agree_with_the_meshes(synth_dir):
    for frame_id, _ in frames(synth_dir):
        samples = np.load(synth_dir / 'sdf' / f'{frame_id}.npy')
        assert samples.dtype == np.float32
        assert samples.shape == (2 * SDF_NEAR_SAMPLES + SDF_UNIFORM_SAMPLES, 5)
        hand_mesh, object_mesh = load_meshes(synth_dir, frame_id)
        for column, mesh, rows in ((3, hand_mesh, slice(0, SDF_NEAR_SAMPLES)),
                                   (4, object_mesh,
                                    slice(SDF_NEAR_SAMPLES, 2 * SDF_NEAR_SAMPLES))):
            near = samples[rows]
            assert 0.3 < (near[:, column] < 0).mean() <= 0.5  # about half inside
            close = np.abs(near[:, column]) < 0.005
            mesh_sdf = scene_of(mesh).compute_signed_distance(
                o3d.core.Tensor(near[close, :3])).numpy()
            error = np.abs(near[close, column] - mesh_sdf)
            assert np.median(error) < 0.001, (frame_id, column, np.median(error))


def test_every_frame_has_contact_and_at_most_5mm_penetration(synth_dir):
    for frame_id, meta in frames(synth_dir):
        hand_mesh, object_mesh = load_meshes(synth_dir, frame_id)
        distance = scene_of(object_mesh).compute_signed_distance(
            o3d.core.Tensor(np.asarray(hand_mesh.vertices, np.float32))).numpy()
        assert distance.min() >= -0.0055, (frame_id, distance.min())  # 5 mm + mesh error
        assert (np.abs(distance) <= 0.003).sum() > 0, frame_id
        assert meta['penetration_mm'] <= 5.0 and meta['contact_vertices'] > 0
        assert 'thumb' in meta['contacts']


def test_files_are_complete_and_free_of_nan(synth_dir):
    folder = FrameFolder(synth_dir)
    assert len(folder) == len(json.loads((synth_dir / 'info.json').read_text())['frames'])
    for index, (frame_id, meta) in enumerate(frames(synth_dir)):
        frame = folder.read(index)
        mask = np.asarray(Image.open(synth_dir / 'mask' / f'{frame_id}.png'))
        assert mask.shape == frame.depth.shape and set(np.unique(mask)) <= {0, 1, 2}
        assert (mask == LABEL_HAND).sum() > 0 and (mask == LABEL_OBJECT).sum() > 0
        assert np.isfinite(frame.depth).all() and (frame.depth > 0).mean() > 0.5
        assert np.isfinite(np.load(synth_dir / 'sdf' / f'{frame_id}.npy')).all()
        numbers = json.dumps(meta)
        assert 'NaN' not in numbers and 'Infinity' not in numbers
        assert meta['hand_side'] in ('left', 'right')
        assert meta['grasp_type'] in ('power', 'precision', 'pinch')
        np.testing.assert_allclose(np.array(meta['camera']['K']), folder.camera.K)
        for name in ('hand', 'object'):
            mesh = trimesh.load(synth_dir / 'mesh' / f'{frame_id}_{name}.ply', process=False)
            assert mesh.is_watertight and np.isfinite(mesh.vertices).all()


def tree_equal(a: pathlib.Path, b: pathlib.Path):
    files_a = sorted(p.relative_to(a) for p in a.rglob('*') if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob('*') if p.is_file())
    assert files_a == files_b
    match, mismatch, errors = filecmp.cmpfiles(a, b, [str(f) for f in files_a], shallow=False)
    return mismatch + errors


def test_same_seed_gives_byte_identical_output_with_any_worker_count(tmp_path):
    generate(tmp_path / 'one', 2, seed=5, split='val', workers=1)
    generate(tmp_path / 'two', 2, seed=5, split='val', workers=2)
    assert tree_equal(tmp_path / 'one', tmp_path / 'two') == []
    generate(tmp_path / 'other', 1, seed=5, split='train', workers=1)
    a = np.asarray(Image.open(tmp_path / 'one' / 'color' / '000000.png'))
    b = np.asarray(Image.open(tmp_path / 'other' / 'color' / '000000.png'))
    assert not np.array_equal(a, b)  # splits use different random streams


def test_bad_configuration_is_rejected():
    with pytest.raises(ValueError, match='camera must be mixed or one of'):
        SynthConfig(camera='kinect_v1')
    with pytest.raises(ValueError, match='split must be one of'):
        generate('/tmp/never', 1, seed=0, split='holdout')


def test_cli_writes_frames_and_a_preview(tmp_path):
    result = subprocess.run(
        [sys.executable, '-m', 'c2f_sdf_ros.cli', 'synth', '--out', str(tmp_path / 's'),
         '--frames', '1', '--seed', '3', '--workers', '1', '--preview',
         '--camera', 'd435_1280x720'], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert 'frames/s' in result.stdout
    preview = Image.open(tmp_path / 's' / 'preview.png')
    assert preview.width > 500
    assert FrameFolder(tmp_path / 's').camera.width == 1280
