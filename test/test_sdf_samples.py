"""SDF samples from meshes (open3d) and the lattice queries of training."""

import os
import pathlib

import numpy as np
import pytest
import trimesh

from c2f_sdf_ros.data.sdf_cache import cached_sdf_samples
from c2f_sdf_ros.data.sdf_samples import sample_sdf
from c2f_sdf_ros.data.synth_folder import SynthFolder
from c2f_sdf_ros.geometry.mesh import MeshSdf
from c2f_sdf_ros.model.inputs import CropConfig
from c2f_sdf_ros.train.dataset import Augmentation, frame_item, lattice_pool

SAMPLE = pathlib.Path(__file__).resolve().parents[1] / 'data' / 'sample'


def test_sphere_distances_match_the_analytic_ones():
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=0.05)
    points = np.random.default_rng(0).uniform(-0.1, 0.1, (500, 3))
    expected = np.linalg.norm(points, axis=1) - 0.05
    # The tessellation sits up to ~0.1 mm inside the true sphere.
    np.testing.assert_allclose(MeshSdf.from_mesh(sphere)(points), expected, atol=2e-4)


def test_open_or_malformed_meshes_are_refused():
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.05)
    open_mesh = trimesh.Trimesh(sphere.vertices, sphere.faces[:-3], process=False)
    with pytest.raises(ValueError, match='not watertight'):
        MeshSdf.from_mesh(open_mesh)
    with pytest.raises(ValueError, match='faces index'):
        MeshSdf(sphere.vertices, sphere.faces + 1000)
    with pytest.raises(ValueError, match='odd'):
        MeshSdf(sphere.vertices, sphere.faces, rays=2)
    with pytest.raises(ValueError, match=r'\(N, 3\)'):
        MeshSdf(sphere.vertices, sphere.faces)(np.zeros((4, 2)))


def test_sample_set_layout_and_balance():
    hand = trimesh.creation.icosphere(subdivisions=4, radius=0.04)
    obj = trimesh.creation.box((0.06, 0.06, 0.06))
    obj.apply_translation([0.08, 0.0, 0.0])
    rows = sample_sdf(hand, obj, np.zeros(3), np.random.default_rng(1), near=400, uniform=100)
    assert rows.shape == (900, 5) and rows.dtype == np.float32
    near_hand, near_object = rows[:400], rows[400:800]
    # Half inside, half outside each surface; all close to it.
    assert (near_hand[:, 3] < 0).sum() == 200 and (near_object[:, 4] < 0).sum() == 200
    assert np.abs(near_hand[:, 3]).max() < 0.05 and np.abs(near_object[:, 4]).max() < 0.05
    np.testing.assert_allclose(near_hand[:, 3], np.linalg.norm(near_hand[:, :3], axis=1) - 0.04,
                               atol=3e-4)
    assert np.abs(rows[800:, :3]).max() <= 0.15
    again = sample_sdf(hand, obj, np.zeros(3), np.random.default_rng(1), near=400, uniform=100)
    np.testing.assert_array_equal(rows, again)


def lattice_setup(index):
    """Sample frame ``index``, a small crop, its mesh distances and a lattice pool of 2048."""
    folder = SynthFolder(SAMPLE)
    frame = folder.read(index)
    crop = CropConfig(image_size=64, num_points=128)
    distances = tuple(MeshSdf.from_mesh(m) for m in folder.meshes(index))
    pool = lattice_pool(distances, frame.root, crop.norm_scale, 2048, np.random.default_rng(0))
    return frame, crop, distances, pool


def test_lattice_queries_cover_the_lattice_with_mesh_targets():
    frame, crop, _, pool = lattice_setup(0)
    item = frame_item(frame, crop, 256, 8, np.random.default_rng(2),
                      Augmentation(rotation_deg=30.0, root_jitter=0.02), 64, pool)
    queries = item['queries'][-64:]
    assert np.abs(queries).max() <= 1.0
    # Spread over the cube, far beyond the stored samples' +-15 cm (0.465 normalised).
    assert np.abs(queries).max(axis=0).min() > 0.8
    # The hand fills a small part of the lattice: nearly all of these are outside it.
    assert (item['sdf_hand'][-64:] > 0).mean() > 0.8
    with pytest.raises(ValueError, match='pool'):
        frame_item(frame, crop, 256, 8, np.random.default_rng(2), None, 64, None)


def test_lattice_targets_are_exact_without_augmentation():
    frame, crop, distances, pool = lattice_setup(1)
    item = frame_item(frame, crop, 256, 8, np.random.default_rng(3), None, 32, pool)
    camera_points = frame.root + item['queries'][-32:] * (2.0 / crop.norm_scale)
    scale = crop.norm_scale / 2.0
    np.testing.assert_allclose(item['sdf_hand'][-32:], distances[0](camera_points) * scale,
                               atol=1e-5)
    np.testing.assert_allclose(item['sdf_object'][-32:], distances[1](camera_points) * scale,
                               atol=1e-5)


def test_the_sdf_cache_computes_once_and_checks_what_it_reads(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return np.full((6, 5), len(calls), np.float32)

    path = tmp_path / 'cache' / 'frame.npy'
    first = cached_sdf_samples(path, 6, compute)
    assert path.is_file() and calls == [1]
    np.testing.assert_array_equal(cached_sdf_samples(path, 6, compute), first)
    assert calls == [1] and [p.name for p in path.parent.iterdir()] == ['frame.npy']
    # Without a cache file every call computes.
    assert cached_sdf_samples(None, 6, compute)[0, 0] == 2
    with pytest.raises(ValueError, match=r'frame\.npy: .*\(8, 5\).*delete the file'):
        cached_sdf_samples(path, 8, compute)
    with pytest.raises(ValueError, match=r'computed SDF samples must be float32 \(8, 5\)'):
        cached_sdf_samples(None, 8, compute)


def test_the_sdf_cache_never_unpickles(tmp_path):
    marker = tmp_path / 'ran'

    class RunsCode:
        def __reduce__(self):
            return os.system, (f'touch {marker}',)

    path = tmp_path / 'frame.npy'
    np.save(path, np.array([RunsCode()], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r'frame\.npy: not a cached array.*delete the file'):
        cached_sdf_samples(path, 6, lambda: np.zeros((6, 5), np.float32))
    assert not marker.exists()
