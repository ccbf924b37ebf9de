"""Ray-cast rendering, the depth sensor model and contact sheets of synthetic frames."""

import json

import numpy as np
from PIL import Image
import pytest
import trimesh
from trimesh.ray import ray_triangle

from c2f_sdf_ros.data.synth.preview import contact_sheet
from c2f_sdf_ros.data.synth.render import (
    CAMERA_PRESETS,
    DepthSensor,
    RenderResult,
    SceneMesh,
    apply_depth_sensor,
    camera_rays,
    depth_edges,
    look_at,
    render,
)
from c2f_sdf_ros.geometry.camera import CameraIntrinsics
from c2f_sdf_ros.geometry.depth import depth_m_to_mm, depth_mm_to_m

# Principal point on a pixel centre, so pixel (80, 60) looks straight down the optical axis.
SMALL = CameraIntrinsics(160, 120, 150.0, 150.0, 80.0, 60.0)
EYE = np.array([0.12, -0.35, 0.28])
TARGET = np.array([0.4, 0.05, 0.1])


def _sphere(center, radius=0.05, subdivisions=4):
    mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    mesh.apply_translation(center)
    return mesh


def _in_camera_frame(mesh, pose):
    """``mesh`` given in the camera frame, moved to the world frame."""
    mesh = mesh.copy()
    mesh.apply_transform(pose)
    return mesh


def _on_axis(distance):
    """World point ``distance`` in front of a camera at EYE looking at TARGET."""
    direction = (TARGET - EYE) / np.linalg.norm(TARGET - EYE)
    return EYE + distance * direction


def _to_camera(points, pose):
    return (np.asarray(points) - pose[:3, 3]) @ pose[:3, :3]


# --- camera presets and look_at --------------------------------------------------------------


def test_presets_are_consistent():
    for name, camera in CAMERA_PRESETS.items():
        width, height = name.rsplit('_', 1)[1].split('x')
        assert camera.size == (int(width), int(height))
        assert camera.cx == pytest.approx((camera.width - 1) / 2)
        assert camera.cy == pytest.approx((camera.height - 1) / 2)
    # The D415 colour camera sees a narrower field than the D435's.
    assert CAMERA_PRESETS['d415_640x480'].fx > CAMERA_PRESETS['d435_640x480'].fx
    assert CAMERA_PRESETS['d415_1280x720'].fx > CAMERA_PRESETS['d435_1280x720'].fx


def test_look_at_is_a_right_handed_optical_frame():
    pose = look_at(EYE, TARGET)
    R = pose[:3, :3]
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    np.testing.assert_allclose(pose[:3, 3], EYE)
    forward = (TARGET - EYE) / np.linalg.norm(TARGET - EYE)
    np.testing.assert_allclose(R[:, 2], forward, atol=1e-12)
    # World up (+z) shows as up in the image, i.e. against the optical y axis.
    assert R[:, 1] @ np.array([0.0, 0.0, 1.0]) < 0
    # A point right of the target (seen from the eye, with z up) projects right of cx; a point
    # above it projects above cy.
    right = np.cross(forward, [0.0, 0.0, 1.0])
    u, v = SMALL.project(_to_camera([TARGET + 0.05 * right, TARGET + [0, 0, 0.05]], pose)).T
    assert u[0] > SMALL.cx and v[0] == pytest.approx(SMALL.cy)
    assert v[1] < SMALL.cy


def test_look_at_along_world_x():
    pose = look_at((0, 0, 0), (1, 0, 0))
    # Looking along +x with z up: image right is world -y, image down is world -z.
    np.testing.assert_allclose(pose[:3, :3], [[0, 0, 1], [-1, 0, 0], [0, -1, 0]], atol=1e-12)


@pytest.mark.parametrize('eye, target, up', [
    ((1, 2, 3), (1, 2, 3), (0, 0, 1)),
    ((0, 0, 0), (0, 0, 2), (0, 0, 1)),
    ((0, 0, 0), (0, 0, -1), (0, 0, 3)),
    ((0, 0, 0), (1, 0, 0), (0, 0, 0)),
])
def test_look_at_rejects_degenerate_input(eye, target, up):
    with pytest.raises(ValueError):
        look_at(eye, target, up)


def test_camera_rays_give_optical_axis_depth():
    pose = look_at(EYE, TARGET)
    rays = camera_rays(SMALL, pose)
    assert rays.shape == (120, 160, 6) and rays.dtype == np.float32
    np.testing.assert_allclose(rays[..., :3], np.broadcast_to(EYE, (120, 160, 3)), atol=1e-6)
    # Unnormalised directions whose optical z component is 1: origin + t * d is at depth t.
    directions_cam = rays[..., 3:].reshape(-1, 3) @ pose[:3, :3]
    np.testing.assert_allclose(directions_cam[:, 2], 1.0, atol=1e-6)
    u, v = np.meshgrid(np.arange(160), np.arange(120))
    np.testing.assert_allclose(directions_cam[:, 0], ((u - 80.0) / 150.0).ravel(), atol=1e-6)
    np.testing.assert_allclose(directions_cam[:, 1], ((v - 60.0) / 150.0).ravel(), atol=1e-6)


# --- clean depth, mask, normals ----------------------------------------------------------------


def test_sphere_depth_on_the_optical_axis():
    pose = look_at(EYE, TARGET)
    sphere = SceneMesh(_sphere(_on_axis(0.5)), label=2)
    result = render([sphere], SMALL, pose, np.random.default_rng(0))
    assert isinstance(result, RenderResult)
    assert result.depth[60, 80] == pytest.approx(0.45, abs=5e-4)
    assert result.mask[60, 80] == 2
    assert result.mask[0, 0] == 0 and result.depth[0, 0] == 0

    # The same at a preset, where the image centre lies between four pixels.
    camera = CAMERA_PRESETS['d435_640x480']
    result = render([sphere], camera, pose, np.random.default_rng(0))
    np.testing.assert_allclose(result.depth[239:241, 319:321], 0.45, atol=5e-4)
    # Projected radius: 0.05 m at 0.5 m with fx = 615 is about 62 px.
    rows = np.flatnonzero(result.mask[:, 320] == 2)
    assert rows.max() - rows.min() + 1 == pytest.approx(2 * 615 * 0.05 / 0.5, abs=4)


def test_plane_seen_head_on_has_constant_depth():
    pose = look_at(EYE, TARGET)
    slab = trimesh.creation.box((4.0, 4.0, 0.01))
    slab.apply_translation((0.0, 0.0, 0.8 + 0.005))  # front face at z = 0.8 (camera frame)
    result = render([SceneMesh(_in_camera_frame(slab, pose), label=0)], SMALL, pose,
                    np.random.default_rng(1))
    assert result.depth.dtype == np.float32
    np.testing.assert_allclose(result.depth, 0.8, atol=1e-5)
    assert np.all(result.mask == 0)
    # Normals face the camera: -z of the optical frame, in world coordinates.
    np.testing.assert_allclose(result.normals.reshape(-1, 3),
                               np.broadcast_to(-pose[:3, 2], (120 * 160, 3)), atol=1e-5)


def _test_scene(pose):
    sphere = _sphere(_on_axis(0.45), radius=0.06, subdivisions=3)
    box = _in_camera_frame(trimesh.creation.box((0.5, 0.3, 0.05)), pose)
    box.apply_translation(pose[:3, :3] @ [0.1, 0.05, 0.6])
    hand = trimesh.creation.capsule(height=0.1, radius=0.02)
    hand.apply_translation(_on_axis(0.4) + pose[:3, :3] @ [-0.1, -0.05, 0.0])
    return [SceneMesh(sphere, 2), SceneMesh(box, 0, (0.3, 0.6, 0.2)), SceneMesh(hand, 1)]


def test_depth_agrees_with_trimesh_ray_casting(monkeypatch):
    pose = look_at(EYE, TARGET)
    scene = _test_scene(pose)
    result = render(scene, SMALL, pose, np.random.default_rng(2))
    combined = trimesh.util.concatenate([m.mesh for m in scene])

    # trimesh's broad phase needs rtree, which this package does not depend on: test every
    # triangle against every ray instead (the narrow phase is trimesh's own).
    def all_pairs(ray_origins, ray_directions, tree):
        rays, tris = np.meshgrid(np.arange(len(ray_origins)), np.arange(len(combined.faces)),
                                 indexing='ij')
        return tris.ravel(), rays.ravel()

    monkeypatch.setattr(ray_triangle, 'ray_triangle_candidates', all_pairs)
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, [160, 120], size=(300, 2))
    rays = camera_rays(SMALL, pose)[pixels[:, 1], pixels[:, 0]].astype(np.float64)
    _, ray_ids, locations = ray_triangle.ray_triangle_id(
        combined.triangles, rays[:, :3], rays[:, 3:], tree=object(), multiple_hits=False)
    expected = np.zeros(len(pixels))
    expected[ray_ids] = _to_camera(locations, pose)[:, 2]
    rendered = result.depth[pixels[:, 1], pixels[:, 0]]
    both = (expected > 0) & (rendered > 0)
    # Rays grazing a triangle edge may hit on one side and miss on the other.
    assert np.mean((expected > 0) == (rendered > 0)) > 0.99
    assert both.sum() > 120
    np.testing.assert_allclose(rendered[both], expected[both], atol=1e-4)


def test_mask_labels_and_no_hit_pixels():
    pose = look_at(EYE, TARGET)
    scene = _test_scene(pose)
    result = render(scene, SMALL, pose, np.random.default_rng(4))
    assert result.mask.dtype == np.uint8 and set(np.unique(result.mask)) == {0, 1, 2}
    assert result.mask[60, 80] == 2
    hand_center = SMALL.project(_to_camera([_on_axis(0.4) + pose[:3, :3] @ [-0.1, -0.05, 0]],
                                           pose))[0]
    assert result.mask[round(hand_center[1]), round(hand_center[0])] == 1
    no_hit = result.depth == 0
    assert no_hit.any()
    assert np.all(result.mask[no_hit] == 0)
    assert np.all(result.normals[no_hit] == 0)
    np.testing.assert_allclose(np.linalg.norm(result.normals[~no_hit], axis=1), 1.0, atol=1e-5)
    # Every normal faces the camera.
    directions = camera_rays(SMALL, pose)[..., 3:]
    assert np.all(np.sum(result.normals * directions, axis=-1)[~no_hit] < 0)


# --- colour ------------------------------------------------------------------------------------


def _sphere_colors(make_albedo, seed=5, radius=0.08):
    """Render a sphere with the albedo ``make_albedo(mesh)``."""
    pose = look_at(EYE, TARGET)
    mesh = _sphere(_on_axis(0.5), radius=radius)
    result = render([SceneMesh(mesh, 2, make_albedo(mesh))], SMALL, pose,
                    np.random.default_rng(seed))
    return result, pose


def test_uniform_albedo():
    result, _ = _sphere_colors(lambda mesh: (0.9, 0.1, 0.1))
    assert result.color.dtype == np.uint8 and result.color.shape == (120, 160, 3)
    rgb = np.median(result.color[result.mask == 2].astype(float), axis=0)
    assert rgb[0] > 3 * rgb[1] and rgb[0] > 3 * rgb[2]


def test_per_vertex_albedo_is_interpolated():
    pose = look_at(EYE, TARGET)

    def left_red_right_blue(mesh):
        side = _to_camera(mesh.vertices, pose)[:, 0] > _to_camera([mesh.centroid], pose)[0, 0]
        return np.where(side[:, None], [0.1, 0.1, 0.9], [0.9, 0.1, 0.1])

    result, _ = _sphere_colors(left_red_right_blue)
    color = result.color.astype(float)
    row = 60
    sphere_cols = np.flatnonzero(result.mask[row] == 2)
    left, right = color[row, sphere_cols[3]], color[row, sphere_cols[-4]]
    assert left[0] > 2 * left[2] and right[2] > 2 * right[0]


def test_callable_albedo_sees_world_hit_points():
    seen = []

    def stripes(points):
        seen.append(points)
        green = (np.floor(points[:, 2] / 0.02) % 2 == 0)
        return np.where(green[:, None], [0.1, 0.8, 0.1], [0.8, 0.8, 0.8])

    result, _ = _sphere_colors(lambda mesh: stripes)
    points = seen[0]
    assert points.ndim == 2 and points.shape[1] == 3 and len(points) == (result.mask == 2).sum()
    # The hit points lie on the sphere.
    np.testing.assert_allclose(np.linalg.norm(points - _on_axis(0.5), axis=1), 0.08, atol=5e-4)
    color = result.color[result.mask == 2].astype(float)
    greenish = (color[:, 1] > 1.5 * color[:, 0])
    assert 0.2 < greenish.mean() < 0.8


def test_albedo_validation():
    mesh = _sphere((0, 0, 0), subdivisions=1)
    with pytest.raises(ValueError):
        SceneMesh(mesh, 1, (0.5, 0.5))
    with pytest.raises(ValueError):
        SceneMesh(mesh, 1, (0.5, 0.5, 1.5))
    with pytest.raises(ValueError):
        SceneMesh(mesh, 1, np.zeros((len(mesh.vertices) + 1, 3)))
    with pytest.raises(ValueError):
        SceneMesh(mesh, 300)
    with pytest.raises(ValueError):
        SceneMesh(trimesh.Trimesh(), 1)
    pose = look_at((0.5, 0, 0), (0, 0, 0))
    bad = SceneMesh(mesh, 1, lambda points: np.zeros((len(points), 2)))
    with pytest.raises(ValueError):
        render([bad], SMALL, pose, np.random.default_rng(0))


def test_background_image_and_empty_scene():
    pose = look_at(EYE, TARGET)
    gray = np.full((120, 160, 3), 128, dtype=np.uint8)
    result = render([], SMALL, pose, np.random.default_rng(6), background=gray)
    assert np.all(result.depth == 0) and np.all(result.mask == 0)
    # Exposure / white balance (< ~18 %) and read noise only.
    assert abs(result.color.astype(float).mean() - 128) < 25
    assert result.color.astype(float).std() < 12
    random_bg = render([], SMALL, pose, np.random.default_rng(6)).color.astype(float)
    assert 10 < random_bg.mean() < 245
    with pytest.raises(ValueError):
        render([], SMALL, pose, np.random.default_rng(6), background=gray[:-1])
    with pytest.raises(ValueError):
        render([], SMALL, pose, np.random.default_rng(6), background=gray.astype(np.float32))


def test_render_rejects_bad_poses():
    pose = look_at(EYE, TARGET)
    skewed = pose.copy()
    skewed[:3, 0] *= 2.0
    for bad in (pose[:3], skewed, np.full((4, 4), np.nan)):
        with pytest.raises(ValueError):
            render([], SMALL, bad, np.random.default_rng(0))


def test_render_and_sensor_are_deterministic():
    pose = look_at(EYE, TARGET)
    scene = _test_scene(pose)
    runs = []
    for seed in (7, 7, 8):
        rng = np.random.default_rng(seed)
        result = render(scene, SMALL, pose, rng)
        runs.append((result, apply_depth_sensor(result.depth, rng)))
    (a, da), (b, db), (c, dc) = runs
    for field in ('color', 'depth', 'mask', 'normals'):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    np.testing.assert_array_equal(da, db)
    assert not np.array_equal(a.color, c.color)
    np.testing.assert_array_equal(a.depth, c.depth)  # geometry does not depend on the seed
    assert not np.array_equal(da, dc)


# --- depth sensor ------------------------------------------------------------------------------


def _step_depth(height=240, width=320):
    """A wall at 1 m, a near square at 0.7 m and a region with nothing (0)."""
    depth = np.full((height, width), 1.0, dtype=np.float32)
    depth[80:160, 120:200] = 0.7
    depth[:, -40:] = 0.0
    return depth


def test_sensor_output_basics():
    clean = _step_depth()
    clean_nan = clean.copy()
    clean_nan[0, 0] = np.nan
    depth = apply_depth_sensor(clean_nan, np.random.default_rng(9))
    assert depth.dtype == np.float32 and depth.shape == clean.shape
    assert np.all(np.isfinite(depth))
    assert np.all(depth[clean == 0] == 0) and depth[0, 0] == 0
    assert np.all(depth >= 0)
    # Whole millimetres, and bit-exact through a uint16 millimetre PNG.
    np.testing.assert_allclose(depth * 1000, np.rint(depth * 1000), atol=1e-3)
    np.testing.assert_array_equal(depth_mm_to_m(depth_m_to_mm(depth)), depth)


def test_sensor_noise_at_one_metre():
    clean = np.full((240, 320), 1.0, dtype=np.float32)
    depth = apply_depth_sensor(clean, np.random.default_rng(10))
    valid = depth > 0
    error = np.abs(depth[valid] - clean[valid])
    assert np.median(error) < 0.002
    assert 0.0005 < error.std() < 0.003  # noisy, but not wildly so
    # Noise grows with distance.
    far = apply_depth_sensor(np.full((240, 320), 2.5, np.float32), np.random.default_rng(10))
    assert np.median(np.abs(far[far > 0] - 2.5)) > 2 * np.median(error)


def test_sensor_invalidates_edges_more_than_elsewhere():
    clean = _step_depth()
    depth = apply_depth_sensor(clean, np.random.default_rng(11))
    edges = depth_edges(clean, DepthSensor().edge_threshold) & (clean > 0)
    invalid = depth == 0
    assert edges.sum() > 400
    near_edges, elsewhere = invalid[edges].mean(), invalid[~edges & (clean > 0)].mean()
    assert near_edges > 0.4 and elsewhere < 0.05
    assert near_edges > 10 * elsewhere


def test_sensor_shadow_is_left_of_occluders():
    sensor = DepthSensor(edge_invalid_probability=0.0, dropout_fraction=0.0, max_holes=0)
    clean = _step_depth()
    depth = apply_depth_sensor(clean, np.random.default_rng(12), sensor)
    rows = slice(80, 160)
    assert np.all(depth[rows, 119] == 0)  # background just left of the near square
    assert np.all(depth[rows, 116] > 0)  # beyond the widest shadow
    assert np.all(depth[rows, 200:203] > 0)  # right of it: no shadow
    # The band varies between 1 and 3 px from row to row.
    width = (depth[rows, 117:120] == 0).sum(axis=1)
    assert width.min() >= 1 and width.max() <= 3 and len(np.unique(width)) > 1
    right = apply_depth_sensor(clean, np.random.default_rng(12),
                               DepthSensor(edge_invalid_probability=0.0, dropout_fraction=0.0,
                                           max_holes=0, shadow_side='right'))
    assert np.all(right[rows, 200] == 0) and np.all(right[rows, 119] > 0)


def test_sensor_dropout_fraction_and_range():
    sensor = DepthSensor(dropout_fraction=0.05, max_holes=0)
    clean = np.full((480, 640), 1.0, dtype=np.float32)
    depth = apply_depth_sensor(clean, np.random.default_rng(13), sensor)
    assert np.mean(depth == 0) == pytest.approx(0.05, abs=0.003)
    # Default: ~1 % speckle plus a few small holes.
    default = apply_depth_sensor(clean, np.random.default_rng(13))
    assert 0.005 < np.mean(default == 0) < 0.03
    # Out of range.
    clean[:10] = 3.5
    clean[10:20] = 0.05
    depth = apply_depth_sensor(clean, np.random.default_rng(13), DepthSensor(dropout_fraction=0))
    assert np.all(depth[:20] == 0)


def test_sensor_holes_are_blobs():
    sensor = DepthSensor(dropout_fraction=0.0, max_holes=3, hole_radius_px=(5.0, 5.0))
    clean = np.full((120, 160), 1.0, dtype=np.float32)
    counts = [np.sum(apply_depth_sensor(clean, np.random.default_rng(seed), sensor) == 0)
              for seed in range(12)]
    # 0 to 3 discs of radius 5 (about 80 px each, fewer where cut by the border).
    assert max(counts) <= 3 * 90 and max(counts) >= 60


@pytest.mark.parametrize('kwargs', [
    {'sigma0': -1.0}, {'min_depth': 2.0, 'max_depth': 1.0}, {'edge_threshold': 0.0},
    {'edge_invalid_probability': 1.5}, {'dropout_fraction': -0.1},
    {'shadow_min_px': 3, 'shadow_max_px': 1}, {'shadow_side': 'up'}, {'max_holes': -1},
    {'hole_radius_px': (3.0, 1.0)}, {'quantisation': 0.0},
])
def test_sensor_parameter_validation(kwargs):
    with pytest.raises(ValueError):
        DepthSensor(**kwargs)


def test_sensor_rejects_non_image_input():
    with pytest.raises(ValueError):
        apply_depth_sensor(np.ones(10, np.float32), np.random.default_rng(0))


# --- contact sheet -----------------------------------------------------------------------------


def _fake_frames(root, ids=('000000', '000001'), size=(64, 48)):
    w, h = size
    rng = np.random.default_rng(14)
    for name in ('color', 'depth', 'mask', 'meta'):
        (root / name).mkdir(parents=True, exist_ok=True)
    for i, frame_id in enumerate(ids):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(
            root / 'color' / f'{frame_id}.png')
        depth = rng.integers(400, 900, (h, w)).astype(np.uint16)
        depth[:5] = 0
        Image.fromarray(depth).save(root / 'depth' / f'{frame_id}.png')
        mask = np.zeros((h, w), np.uint8)
        mask[10:20, 10:30] = 1
        mask[25:40, 30:50] = 2
        Image.fromarray(mask).save(root / 'mask' / f'{frame_id}.png')
        joints = (rng.uniform(0, 1, (21, 2)) * [w, h]).tolist()
        meta = {'joints_2d': joints, 'hand_side': ('left', 'right')[i % 2],
                'grasp_type': 'power', 'object_family': 'mug'}
        (root / 'meta' / f'{frame_id}.json').write_text(json.dumps(meta))


def test_contact_sheet_writes_a_png(tmp_path):
    root = tmp_path / 'frames'
    _fake_frames(root)
    out = tmp_path / 'sheets' / 'sheet.png'
    contact_sheet(root, ['000000', '000001'], out)
    with Image.open(out) as image:
        width, height = image.size
        assert image.format == 'PNG'
    # Two frames of three panels in one row: much wider than tall.
    assert 600 < width < 3000 and 100 < height < width / 3
    first = out.read_bytes()
    contact_sheet(root, ['000000', '000001'], out)
    assert out.read_bytes() == first  # deterministic
    # One frame per row stacks vertically.
    contact_sheet(root, ['000000', '000001'], out, columns=1)
    with Image.open(out) as image:
        assert image.size[1] > height


def test_contact_sheet_rejects_missing_or_bad_frames(tmp_path):
    root = tmp_path / 'frames'
    _fake_frames(root)
    with pytest.raises(ValueError, match='missing'):
        contact_sheet(root, ['000000', '000002'], tmp_path / 'sheet.png')
    (root / 'mask' / '000001.png').unlink()
    with pytest.raises(ValueError, match='mask'):
        contact_sheet(root, ['000001'], tmp_path / 'sheet.png')
    meta = json.loads((root / 'meta' / '000000.json').read_text())
    meta['joints_2d'] = meta['joints_2d'][:20]
    (root / 'meta' / '000000.json').write_text(json.dumps(meta))
    with pytest.raises(ValueError, match='joints_2d'):
        contact_sheet(root, ['000000'], tmp_path / 'sheet.png')
    with pytest.raises(ValueError):
        contact_sheet(root, [], tmp_path / 'sheet.png')
    assert not (tmp_path / 'sheet.png').exists()
