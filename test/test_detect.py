"""
The real-image hand detector layer (c2f_sdf_ros.detect): lifting, handedness, MediaPipe.

Lifting and handedness run on synthetic hands rendered here (spheres along a 21-joint
skeleton, a pinhole camera with fx != fy and an off-centre principal point). MediaPipe
tests skip when mediapipe is not installed; the real-frame tests skip when
../shared/real is absent.
"""

import ast
import json
import pathlib
import sys

import numpy as np
import pytest
import trimesh

from c2f_sdf_ros.detect import (
    LIFT_REASONS,
    DetectedHand,
    HandDetector,
    LiftConfig,
    combine_sides,
    flip_side,
    lift_landmarks,
    make_detector,
    side_from_joints,
)
from c2f_sdf_ros.detect.handedness import palm_facing, palm_flexion
from c2f_sdf_ros.detect.hands import PARENTS, box_iou, check_frame, dedupe, same_hand
from c2f_sdf_ros.detect.lifting import landmark_depths
from c2f_sdf_ros.geometry.camera import CameraIntrinsics

REPO = pathlib.Path(__file__).resolve().parents[1]
REAL = REPO.parent / 'shared' / 'real'
CAMERA = CameraIntrinsics(320, 240, fx=300.0, fy=280.0, cx=171.3, cy=104.6)


def rotation(axis, angle):
    """Rotation matrix about a unit axis (Rodrigues)."""
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def hand_skeleton(side='right', flex=0.5):
    """
    21 joints (metres) of a hand in its own frame: wrist at 0, fingers along +y.

    For a right hand the palm faces +z and the thumb is at +x; fingers curl towards +z by
    ``flex`` radians per joint. A left hand is the mirror image (x negated).
    """
    joints = np.zeros((21, 3))
    mcps = {5: (0.025, 0.085), 9: (0.005, 0.09), 13: (-0.015, 0.085), 17: (-0.032, 0.075)}
    lengths = {5: (0.040, 0.025, 0.020), 9: (0.045, 0.028, 0.022),
               13: (0.042, 0.026, 0.021), 17: (0.032, 0.020, 0.018)}
    for mcp, (x, y) in mcps.items():
        joints[mcp] = (x, y, 0.0)
        angle = 0.0
        for k, length in enumerate(lengths[mcp]):
            angle += flex
            joints[mcp + k + 1] = joints[mcp + k] + length * np.array(
                [0.0, np.cos(angle), np.sin(angle)])
    # Thumb: from the wrist towards +x, opposed (towards the palm side, +z).
    joints[1] = (0.025, 0.025, 0.010)
    joints[2] = (0.045, 0.045, 0.020 * (0.5 + flex))
    joints[3] = (0.055, 0.070, 0.030 * (0.5 + flex))
    joints[4] = (0.060, 0.090, 0.040 * (0.5 + flex))
    if side == 'left':
        joints[:, 0] *= -1
    return joints


def place(joints, R, centre):
    """Joints moved to the camera frame: rotated by R about the wrist, wrist at ``centre``."""
    return joints @ np.asarray(R).T + np.asarray(centre)


def render_depth(camera, spheres, background=1.5, occluders=()):
    """
    Depth image of spheres (centre, radius) in front of a plane at ``background`` metres.

    ``occluders``: (u0, v0, u1, v1, depth) fronto-parallel rectangles.
    """
    depth = np.full((camera.height, camera.width), background, dtype=np.float64)
    v, u = np.indices(depth.shape, dtype=np.float64)
    rays = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy,
                     np.ones_like(u)], axis=-1)
    rr = np.sum(rays * rays, axis=-1)
    for centre, radius in spheres:
        (cu, cv), = camera.project(np.asarray(centre)[None])
        half = 2 * radius * max(camera.fx, camera.fy) / centre[2] + 2
        u0, u1 = int(max(0, cu - half)), int(min(camera.width, cu + half + 1))
        v0, v1 = int(max(0, cv - half)), int(min(camera.height, cv + half + 1))
        if u0 >= u1 or v0 >= v1:
            continue
        d = rays[v0:v1, u0:u1]
        dc = d @ centre
        disc = dc ** 2 - rr[v0:v1, u0:u1] * (centre @ centre - radius ** 2)
        t = np.where(disc >= 0, (dc - np.sqrt(np.maximum(disc, 0))) / rr[v0:v1, u0:u1],
                     np.inf)
        depth[v0:v1, u0:u1] = np.minimum(depth[v0:v1, u0:u1], t)
    for u0, v0, u1, v1, z in occluders:
        depth[v0:v1, u0:u1] = np.minimum(depth[v0:v1, u0:u1], z)
    return depth.astype(np.float32)


def hand_spheres(joints, radius=0.009, per_bone=6):
    """Spheres along every bone (a capsule-like finger) plus one per joint."""
    spheres = [(joint, radius) for joint in joints]
    for child, parent in enumerate(PARENTS):
        if parent < 0:
            continue
        for s in np.linspace(0, 1, per_bone + 2)[1:-1]:
            spheres.append((joints[parent] + s * (joints[child] - joints[parent]), radius))
    # The palm: a few spheres between the wrist and the MCPs.
    for mcp in (5, 9, 13, 17):
        for s in (0.3, 0.6):
            spheres.append((joints[0] + s * (joints[mcp] - joints[0]), 0.015))
    return spheres


def mediapipe_like(joints, camera):
    """Landmark pixels and relative depth as MediaPipe reports them (z in x pixels)."""
    pixels = camera.project(joints)
    rel_z = (joints[:, 2] - joints[0, 2]) * camera.fx / joints[0, 2]
    return pixels, rel_z


PALM_TO_CAMERA = rotation([1, 0, 0], np.pi) @ rotation([0, 0, 1], 0.3)  # palm faces -z
PALM_AWAY = rotation([0, 0, 1], -0.4) @ rotation([1, 0, 0], 0.3)


@pytest.fixture
def scene():
    joints = place(hand_skeleton('right', flex=0.35), PALM_TO_CAMERA, (0.01, 0.04, 0.6))
    depth = render_depth(CAMERA, hand_spheres(joints))
    return joints, depth


# Lifting -------------------------------------------------------------------------------


def test_lifting_recovers_visible_joints_within_a_centimetre(scene):
    joints, depth = scene
    pixels, rel_z = mediapipe_like(joints, CAMERA)
    result = lift_landmarks(pixels, rel_z, depth, CAMERA)
    assert result.ok and result.reason == ''
    assert result.visible.sum() >= 18
    errors = np.linalg.norm(result.joints - joints, axis=1)
    assert errors[result.visible].max() < 0.01, errors
    assert errors.max() < 0.015
    assert abs(result.hand_depth - joints[0, 2]) < 0.02


@pytest.mark.parametrize('z_scale', [0.6, 1.6])
def test_lifting_fits_the_scale_of_the_relative_depth(scene, z_scale):
    joints, depth = scene
    pixels, rel_z = mediapipe_like(joints, CAMERA)
    result = lift_landmarks(pixels, rel_z * z_scale, depth, CAMERA)
    assert result.ok
    assert abs(result.z_scale * z_scale - 1.0) < 0.25
    errors = np.linalg.norm(result.joints - joints, axis=1)
    assert errors[result.visible].max() < 0.01


def test_occluded_joints_follow_the_skeleton_not_the_occluder(scene):
    joints, _ = scene
    pixels, rel_z = mediapipe_like(joints, CAMERA)
    # An object 6 cm in front of the hand hides the index and middle fingers' last joints.
    hidden = [7, 8, 11, 12]
    u0, v0 = (pixels[hidden].min(axis=0) - 6).astype(int)
    u1, v1 = (pixels[hidden].max(axis=0) + 7).astype(int)
    occluder_z = float(joints[hidden, 2].min()) - 0.06
    depth = render_depth(CAMERA, hand_spheres(joints), occluders=[(u0, v0, u1, v1, occluder_z)])
    covered = ((pixels[:, 0] >= u0 - 3) & (pixels[:, 0] <= u1 + 3)
               & (pixels[:, 1] >= v0 - 3) & (pixels[:, 1] <= v1 + 3))
    result = lift_landmarks(pixels, rel_z, depth, CAMERA)
    assert result.ok
    assert not result.visible[hidden].any()
    errors = np.linalg.norm(result.joints - joints, axis=1)
    assert errors[hidden].max() < 0.02, errors[hidden]
    assert np.all(result.joints[hidden, 2] > occluder_z + 0.04)
    visible = result.visible & ~covered
    assert visible.sum() >= 12
    assert errors[visible].max() < 0.01


def test_fx_differs_from_fy_and_principal_point_is_used(scene):
    joints, depth = scene
    pixels, rel_z = mediapipe_like(joints, CAMERA)
    result = lift_landmarks(pixels, rel_z, depth, CAMERA)
    # Re-projecting the lifted joints gives back the landmarks exactly.
    assert np.allclose(CAMERA.project(result.joints), pixels, atol=1e-6)
    # With fx and fy swapped the metric shape is wrong by their ratio: the test would see it.
    swapped = CameraIntrinsics(320, 240, fx=CAMERA.fy, fy=CAMERA.fx, cx=CAMERA.cx, cy=CAMERA.cy)
    wrong = lift_landmarks(pixels, rel_z, depth, swapped)
    assert np.linalg.norm(wrong.joints - joints, axis=1).max() > 0.01


def test_hand_without_depth_is_dropped_with_a_reason(scene):
    joints, depth = scene
    pixels, rel_z = mediapipe_like(joints, CAMERA)
    result = lift_landmarks(pixels, rel_z, np.zeros_like(depth), CAMERA)
    assert not result.ok and result.joints is None
    assert result.reason == 'no_depth' and result.reason in LIFT_REASONS
    assert not result.visible.any()
    # Depth only of a wall 5 m away: no hand depth gives this hand a plausible size.
    wall = np.full_like(depth, 5.0)
    assert lift_landmarks(pixels, rel_z, wall, CAMERA).reason == 'inconsistent_depth'
    # NaN depth counts as missing.
    assert lift_landmarks(pixels, rel_z, np.full_like(depth, np.nan), CAMERA).reason == \
        'no_depth'


def test_lifting_prefers_the_hand_over_the_background_seen_past_thin_fingers():
    joints = place(hand_skeleton('right', flex=0.2), PALM_AWAY, (0.0, 0.0, 1.8))
    camera = CameraIntrinsics(640, 480, 574.0, 574.0, 319.5, 239.5)
    depth = render_depth(camera, hand_spheres(joints), background=1.9)
    pixels, rel_z = mediapipe_like(joints, camera)
    result = lift_landmarks(pixels, rel_z, depth, camera)
    assert result.ok
    assert np.linalg.norm(result.joints.mean(0) - joints.mean(0)) < 0.03


def test_lifting_rejects_bad_input(scene):
    joints, depth = scene
    pixels, rel_z = mediapipe_like(joints, CAMERA)
    with pytest.raises(ValueError):
        lift_landmarks(pixels[:20], rel_z, depth, CAMERA)
    with pytest.raises(ValueError):
        lift_landmarks(pixels, rel_z[:20], depth, CAMERA)
    bad = pixels.copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError):
        lift_landmarks(bad, rel_z, depth, CAMERA)
    with pytest.raises(ValueError):
        lift_landmarks(pixels, rel_z, depth[:-1], CAMERA)
    with pytest.raises(ValueError):
        LiftConfig(min_visible=2)
    with pytest.raises(ValueError):
        LiftConfig(window_quantile=1.5)


def test_landmark_depths_window_statistics():
    depth = np.zeros((10, 10), np.float32)
    depth[2:7, 2:7] = 1.0
    depth[4, 4] = 3.0
    points = np.array([[4.0, 4.0], [0.0, 0.0], [9.4, 9.4], [-5.0, -5.0]])
    values = landmark_depths(depth, points, radius=1)
    assert values[0] == pytest.approx(1.0)  # the one outlier does not move the median
    assert np.isnan(values[1])  # no valid pixel
    assert np.isnan(values[2]) and np.isnan(values[3])
    assert landmark_depths(depth, points[:1], radius=0)[0] == pytest.approx(3.0)
    front = depth.copy()
    front[3:6, 3:5] = 0.5  # a window straddling two surfaces: the quantile picks
    assert landmark_depths(front, points[:1], 1, quantile=0.3)[0] == pytest.approx(0.5)
    assert landmark_depths(front, points[:1], 1, quantile=0.9)[0] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        landmark_depths(depth, points, radius=-1)
    with pytest.raises(ValueError):
        landmark_depths(depth, points[:, :1], radius=1)


# Handedness ----------------------------------------------------------------------------

ORIENTATIONS = [np.eye(3), PALM_TO_CAMERA, PALM_AWAY, rotation([1, 1, 0], 2.0),
                rotation([0.3, -1, 0.5], -2.5), rotation([0, 0, 1], np.pi)]


@pytest.mark.parametrize('R', ORIENTATIONS)
def test_side_from_joints_is_independent_of_viewpoint(R):
    for side in ('right', 'left'):
        joints = place(hand_skeleton(side, flex=0.4), R, (0.1, -0.05, 0.7))
        found, confidence = side_from_joints(joints)
        assert found == side and confidence > 0.5


@pytest.mark.parametrize('R', ORIENTATIONS)
def test_side_from_joints_flips_on_a_mirrored_input(R):
    joints = place(hand_skeleton('right', flex=0.4), R, (0.1, -0.05, 0.7))
    mirrored = joints * np.array([-1.0, 1.0, 1.0])  # a mirrored camera image, in 3D
    assert side_from_joints(joints)[0] == 'right'
    assert side_from_joints(mirrored)[0] == 'left'
    assert palm_flexion(mirrored) == pytest.approx(-palm_flexion(joints))


def test_side_from_joints_unknown_for_flat_or_degenerate_hands():
    flat = hand_skeleton('right', flex=0.0)
    flat[[2, 3, 4], 2] = 0.0  # thumb in the palm plane too
    assert side_from_joints(flat) == ('unknown', 0.0)
    line = np.zeros((21, 3))
    line[:, 1] = np.linspace(0, 0.2, 21)
    assert side_from_joints(line) == ('unknown', 0.0)
    with pytest.raises(ValueError):
        side_from_joints(np.zeros((20, 3)))
    with pytest.raises(ValueError):
        side_from_joints(np.full((21, 3), np.nan))
    # Weights: only the weighted joints count; none weighted: no evidence.
    hand = hand_skeleton('right', flex=0.4)
    assert side_from_joints(hand, np.zeros(21)) == ('unknown', 0.0)
    with pytest.raises(ValueError):
        side_from_joints(hand, -np.ones(21))


def test_palm_facing_tells_palm_back_and_edge_views_of_either_hand():
    centre = (0.05, 0.02, 0.6)
    edge_on = rotation([0, 1, 0], np.pi / 2)  # about the fingers' axis: palm faces +x
    for side in ('right', 'left'):
        hand = hand_skeleton(side, flex=0.4)
        assert palm_facing(place(hand, PALM_TO_CAMERA, centre), side) > 0.9
        assert palm_facing(place(hand, np.eye(3), centre), side) < -0.9
        assert abs(palm_facing(place(hand, edge_on, centre), side)) < 0.2
        # The same joints called the other side face the other way.
        other = 'left' if side == 'right' else 'right'
        assert palm_facing(place(hand, PALM_TO_CAMERA, centre), other) < -0.9
    line = np.zeros((21, 3))
    line[:, 1] = np.linspace(0, 0.2, 21)
    assert np.isnan(palm_facing(line + (0, 0, 0.5), 'right'))
    for joints, side in ((np.zeros((20, 3)), 'right'), (np.full((21, 3), np.nan), 'right'),
                         (hand_skeleton(), 'unknown')):
        with pytest.raises(ValueError):
            palm_facing(joints, side)


def test_side_of_lifted_joints_from_a_mirrored_image(scene):
    joints, depth = scene
    pixels, rel_z = mediapipe_like(joints, CAMERA)
    lifted = lift_landmarks(pixels, rel_z, depth, CAMERA)
    assert side_from_joints(lifted.joints, lifted.visible.astype(float))[0] == 'right'
    # The same frame mirrored left-right: image, landmarks and principal point.
    w = CAMERA.width
    mirror_camera = CameraIntrinsics(w, CAMERA.height, CAMERA.fx, CAMERA.fy,
                                     w - 1 - CAMERA.cx, CAMERA.cy)
    mirror_pixels = np.stack([w - 1 - pixels[:, 0], pixels[:, 1]], axis=1)
    mirrored = lift_landmarks(mirror_pixels, rel_z, depth[:, ::-1], mirror_camera)
    assert mirrored.ok
    assert side_from_joints(mirrored.joints, mirrored.visible.astype(float))[0] == 'left'


def test_combine_sides():
    # A confident label stands; flat geometry changes nothing.
    assert combine_sides('right', 0.99, 'unknown', 0.0)[0] == 'right'
    # Agreement raises the confidence above either alone.
    alone = combine_sides('left', 0.8, 'unknown', 0.0)[1]
    assert combine_sides('left', 0.8, 'left', 0.9)[1] > alone
    # Clear geometry overrides an unsure label, not a confident one.
    assert combine_sides('left', 0.6, 'right', 0.95)[0] == 'right'
    assert combine_sides('left', 0.99, 'right', 0.95)[0] == 'left'
    # No evidence: unknown.
    assert combine_sides('unknown', 0.5, 'unknown', 0.0) == ('unknown', 0.5)
    with pytest.raises(ValueError):
        combine_sides('up', 0.9, 'left', 0.5)
    with pytest.raises(ValueError):
        combine_sides('left', 1.5, 'left', 0.5)
    assert flip_side('left') == 'right' and flip_side('unknown') == 'unknown'
    with pytest.raises(ValueError):
        flip_side('Left')


# Data types and helpers ----------------------------------------------------------------


def test_detected_hand_validates():
    pixels = np.random.default_rng(0).uniform(0, 100, (21, 2))
    hand = DetectedHand.from_landmarks(pixels, np.zeros(21), 0.9, 'right', 0.8)
    assert not hand.lifted and np.allclose(hand.box, [*pixels.min(0), *pixels.max(0)])
    assert not hand.visible.any()
    with pytest.raises(ValueError):
        hand.landmarks_px[0, 0] = 1.0  # read-only
    with pytest.raises(ValueError):
        DetectedHand.from_landmarks(pixels, np.zeros(21), 1.5)
    with pytest.raises(ValueError):
        DetectedHand.from_landmarks(pixels, np.zeros(21), 0.5, side='Right')
    with pytest.raises(ValueError):
        DetectedHand.from_landmarks(pixels[:20], np.zeros(21), 0.5)


def test_boxes_and_dedupe():
    assert box_iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(1 / 3)
    assert box_iou([0, 0, 1, 1], [2, 2, 3, 3]) == 0.0
    a = np.random.default_rng(1).uniform(100, 150, (21, 2))
    b = a + 2.0  # the same hand found twice
    c = a + 300.0  # another hand
    assert same_hand(a, b) and not same_hand(a, c)
    assert dedupe([a, b, c], [0.5, 0.9, 0.7]) == [1, 2]
    with pytest.raises(ValueError):
        dedupe([a], [0.5, 0.6])


def test_check_frame():
    color = np.zeros((240, 320, 3), np.uint8)
    depth = np.zeros((240, 320), np.float32)
    check_frame(color, depth, CAMERA)
    with pytest.raises(ValueError):
        check_frame(color[:, :, 0], depth, CAMERA)
    with pytest.raises(ValueError):
        check_frame(color, depth.astype(np.uint16), CAMERA)
    with pytest.raises(ValueError):
        check_frame(color[:-1], depth, CAMERA)


def test_square_tiles_cover_the_image():
    from c2f_sdf_ros.detect.mediapipe_hands import square_tiles

    for w, h, zoom in ((1280, 720, 1.0), (640, 480, 1.0), (640, 480, 1.5), (500, 500, 1.0)):
        tiles = square_tiles(w, h, zoom)
        covered = np.zeros((h, w), bool)
        for u0, v0, side in tiles:
            assert side == round(min(w, h) / zoom)
            assert u0 + side <= w and v0 + side <= h
            covered[v0:v0 + side, u0:u0 + side] = True
        assert covered.all()
    assert len(square_tiles(1280, 720)) == 2
    with pytest.raises(ValueError):
        square_tiles(640, 480, 0.5)


def test_detect_layer_imports_only_geometry():
    allowed_third_party = {'numpy', 'scipy', 'PIL', 'mediapipe'}
    for path in (REPO / 'c2f_sdf_ros' / 'detect').glob('*.py'):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split('.')[0]
                if top == 'c2f_sdf_ros':
                    assert name.startswith(('c2f_sdf_ros.geometry', 'c2f_sdf_ros.detect')), \
                        f'{path.name} imports {name}'
                else:
                    assert top in allowed_third_party or top in sys.stdlib_module_names, \
                        f'{path.name} imports {name}'


def test_make_detector_errors(monkeypatch):
    with pytest.raises(ValueError, match='unknown hand detector'):
        make_detector('yolo')
    # mediapipe missing: a clear ImportError naming the version to install.
    for name in [m for m in sys.modules if m == 'mediapipe' or m.startswith('mediapipe.')]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, 'mediapipe', None)
    with pytest.raises(ImportError, match='mediapipe==0.10.14'):
        make_detector('mediapipe')


# MediaPipe -----------------------------------------------------------------------------


@pytest.fixture(scope='module')
def detector():
    pytest.importorskip('mediapipe', reason='mediapipe is not installed')
    with make_detector('mediapipe') as found:
        yield found


def test_mediapipe_detector_options(detector):
    assert isinstance(detector, HandDetector)
    assert detector.max_hands == 2
    with pytest.raises(ValueError):
        make_detector('mediapipe', max_hands=0)
    with pytest.raises(ValueError):
        make_detector('mediapipe', second_pass='always')
    with pytest.raises(ValueError):
        make_detector('mediapipe', model_complexity=2)
    with pytest.raises(ValueError, match='invalid options'):
        make_detector('mediapipe', colour='red')


def test_mediapipe_finds_no_hand_where_there_is_none(detector):
    camera = CameraIntrinsics(640, 480, 600.0, 600.0, 319.5, 239.5)
    depth = np.full((480, 640), 1.0, np.float32)
    rng = np.random.default_rng(3)
    texture = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    box = np.full((480, 640, 3), 110, np.uint8)
    box[150:330, 220:420] = (224, 172, 140)  # a flat skin-coloured box
    for color in (texture, box):
        hands, dropped = detector.detect_with_reasons(color, depth, camera)
        assert hands == [] and dropped == []
    with pytest.raises(ValueError):
        detector.detect(texture[:, :, :2], depth, camera)


def _frame_folder(name):
    folder = REAL / name
    if not (folder / 'camera.yaml').is_file():
        pytest.skip(f'{folder} is absent')
    from c2f_sdf_ros.data.frame_folder import FrameFolder

    return FrameFolder(folder)


def test_mediapipe_on_real_kitchen_frames(detector):
    frames = _frame_folder('cerd_kitchen_pour')
    labels = json.loads((frames.root / 'labels.json').read_text())['frames']
    found = sides_right = 0
    for index, frame_id in enumerate(frames.ids):
        frame = frames.read(index)
        hands = detector.detect(frame.color, frame.depth, frame.camera)
        boxes = [hand['box_xyxy'] for hand in labels[frame_id]['hands']]
        if not boxes:
            assert hands == [], f'hand reported on hand-free frame {frame_id}'
            continue
        u0, v0, u1, v1 = boxes[0]
        centres = [((h.box[0] + h.box[2]) / 2, (h.box[1] + h.box[3]) / 2) for h in hands]
        inside = [h for h, (u, v) in zip(hands, centres, strict=True)
                  if u0 <= u <= u1 and v0 <= v <= v1]
        if inside:
            found += 1
            sides_right += inside[0].side == 'right'
            hand = inside[0]
            assert hand.lifted and 0.3 < hand.root[2] < 1.0
            assert scores_sorted(hands)
    assert found >= 10
    # A right hand throughout; MediaPipe mirrors its landmarks on one motion-blurred frame.
    assert sides_right >= found - 1


def scores_sorted(hands):
    return all(a.score >= b.score for a, b in zip(hands, hands[1:], strict=False))


def test_mediapipe_on_real_whiteboard_frames_matches_pseudo_ground_truth(detector):
    frames = _frame_folder('irvl_fetch_whiteboard_eraser')
    within = total = 0
    for index, frame_id in enumerate(frames.ids):
        path = frames.root / 'hand_pseudo_gt' / f'{frame_id}.ply'
        if not path.is_file():
            continue
        total += 1
        frame = frames.read(index)
        centre = np.asarray(trimesh.load(path, process=False).vertices).mean(axis=0)
        hands = detector.detect(frame.color, frame.depth, frame.camera)
        within += any(np.linalg.norm(h.centre - centre) < 0.05 for h in hands)
    assert total == 10
    assert within >= 7
