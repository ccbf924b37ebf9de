"""The procedural hand: kinematics, limits, mirror symmetry, analytic vs mesh distances."""

import numpy as np
import open3d as o3d
import pytest

from c2f_sdf_ros.data.synth import grasp, hand, sdf


def mesh_signed_distance(mesh, points):
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.asarray(mesh.vertices, np.float32)),
                        o3d.core.Tensor(np.asarray(mesh.faces, np.uint32)))
    return scene.compute_signed_distance(
        o3d.core.Tensor(np.asarray(points, np.float32))).numpy()


def random_pose(rng):
    limits = np.concatenate([hand.THUMB_LIMITS[None], np.repeat(hand.FINGER_LIMITS[None], 4, 0)])
    return hand.HandPose(rng.uniform(limits[..., 0], limits[..., 1]))


def test_flat_hand_skeleton_order_and_bone_lengths():
    shape = hand.nominal_hand('right')
    skeleton = hand.forward_kinematics(shape, hand.HandPose.flat())
    assert skeleton.joints.shape == (21, 3)
    np.testing.assert_array_equal(skeleton.joints[0], 0.0)
    for finger in range(5):
        index = hand.finger_joints(finger)
        lengths = np.linalg.norm(np.diff(skeleton.joints[index], axis=0), axis=1)
        np.testing.assert_allclose(lengths, shape.lengths[finger])
        # Base to tip moves away from the wrist.
        assert np.all(np.diff(np.linalg.norm(skeleton.joints[index], axis=1)) > 0)
    # Right hand: thumb at y < 0, little finger at y > 0, middle finger tip farthest in x.
    assert skeleton.joints[4, 1] < 0 < skeleton.joints[20, 1]
    assert np.argmax(skeleton.joints[:, 0]) == 12
    assert hand.BONES[0] == (0, 1) and hand.BONES[4] == (0, 5) and len(hand.BONES) == 20


def test_flexion_bends_towards_the_palm_and_respects_limits():
    shape = hand.nominal_hand()
    angles = np.zeros((5, 4))
    angles[2, 1:] = [1.0, 1.0, 0.5]
    bent = hand.forward_kinematics(shape, hand.HandPose(angles))
    assert bent.joints[12, 2] > 0.02  # middle fingertip moved to the palmar side (+z)
    too_far = angles.copy()
    too_far[2, 2] = 5.0
    at_limit = angles.copy()
    at_limit[2, 2] = hand.FINGER_LIMITS[2, 1]
    np.testing.assert_allclose(hand.forward_kinematics(shape, hand.HandPose(too_far)).joints,
                               hand.forward_kinematics(shape, hand.HandPose(at_limit)).joints)


def test_left_hand_is_the_mirror_of_the_right():
    rng = np.random.default_rng(1)
    pose = random_pose(rng)
    right = hand.forward_kinematics(hand.nominal_hand('right', 1.05), pose)
    left = hand.forward_kinematics(hand.nominal_hand('left', 1.05), pose)
    mirror = np.array([1.0, -1.0, 1.0])
    np.testing.assert_allclose(left.joints, right.joints * mirror)
    points = rng.normal(0.05, 0.05, (500, 3))
    np.testing.assert_allclose(hand.hand_sdf(left, points), hand.hand_sdf(right, points * mirror))


def test_sampled_shapes_stay_in_human_ranges():
    rng = np.random.default_rng(2)
    shapes = [hand.sample_hand_shape(rng) for _ in range(50)]
    assert {s.side for s in shapes} == {'left', 'right'}
    assert all(0.85 <= s.scale <= 1.15 for s in shapes)
    middle = np.array([s.lengths[2].sum() for s in shapes])
    assert 0.07 < middle.min() and middle.max() < 0.11  # middle finger, MCP to tip


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_analytic_sdf_agrees_with_mesh_sdf_near_the_surface(seed):
    rng = np.random.default_rng(seed)
    skeleton = hand.forward_kinematics(hand.sample_hand_shape(rng), random_pose(rng))
    mesh = hand.hand_mesh(skeleton, voxel=0.002)
    assert mesh.is_watertight
    faces = rng.choice(len(mesh.faces), 3000)
    points = mesh.triangles_center[faces] + mesh.face_normals[faces] * rng.uniform(
        -0.003, 0.003, (3000, 1))
    error = np.abs(hand.hand_sdf(skeleton, points) - mesh_signed_distance(mesh, points))
    assert np.median(error) < 0.001, np.median(error)
    assert np.percentile(error, 90) < 0.002


def test_grid_sdf_equals_pointwise_sdf_near_the_surface():
    rng = np.random.default_rng(3)
    skeleton = hand.forward_kinematics(hand.sample_hand_shape(rng), random_pose(rng))
    values, origin = hand.hand_sdf_grid(skeleton, 0.003)
    axes = [origin[i] + 0.003 * np.arange(values.shape[i]) for i in range(3)]
    points = np.stack(np.meshgrid(*axes, indexing='ij'), -1).reshape(-1, 3)
    exact = hand.hand_sdf(skeleton, points).reshape(values.shape)
    near = np.abs(exact) < 0.008
    np.testing.assert_allclose(values[near], exact[near], atol=1e-12)


RADIUS, HALF_HEIGHT = 0.035, 0.07


def cylinder(p):
    return sdf.capped_cylinder(p, RADIUS, HALF_HEIGHT, 0.003)


def cylinder_grasp_inputs(seed, side):
    """A seeded generator, a hand of ``side`` and 400 surface points of the cylinder side."""
    rng = np.random.default_rng(seed)
    angles = rng.uniform(0, 2 * np.pi, 400)
    heights = rng.uniform(-0.05, 0.05, 400)
    normals = np.stack([np.cos(angles), np.sin(angles), np.zeros(400)], -1)
    points = normals * RADIUS + np.stack([0 * heights, 0 * heights, heights], -1)
    return rng, hand.sample_hand_shape(rng, side), points, normals


def check_grasp(result, grasp_type):
    assert result is not None
    report = result.report
    assert report.satisfies(grasp_type)
    assert report.penetration <= grasp.MAX_PENETRATION
    assert 'thumb' in report.contacts
    # Fingers that touch stopped at the surface: within contact distance, not deep inside.
    for part in report.contacts:
        assert -grasp.MAX_PENETRATION <= report.gaps[part] <= grasp.CONTACT_DISTANCE


# Seeds are fixed numbers (never hash(): str hashes change with PYTHONHASHSEED per process).
@pytest.mark.parametrize('seed', [0, 1])
@pytest.mark.parametrize('grasp_type', grasp.GRASP_TYPES)
@pytest.mark.parametrize('side', hand.SIDES)
def test_grasps_touch_and_do_not_penetrate(grasp_type, side, seed):
    rng, shape, points, normals = cylinder_grasp_inputs(seed, side)
    check_grasp(grasp.sample_grasp(rng, shape, cylinder, points, normals,
                                   long_axis=np.array([0.0, 0.0, 1.0]),
                                   grasp_type=grasp_type), grasp_type)


# Left hands whose thenar pad starts inside the cylinder at every placement of the first
# round (small hands, thick thumbs): sample_grasp returned None for them before the
# second round backed the palm out.
THENAR_SEEDS = [118, 159, 298]


@pytest.mark.parametrize('seed', THENAR_SEEDS)
def test_a_palm_starting_inside_is_backed_out_in_the_second_round(seed):
    rng, shape, points, normals = cylinder_grasp_inputs(seed, 'left')
    axis = np.array([0.0, 0.0, 1.0])
    first_round = [grasp._try_grasp(rng, shape, cylinder, points, normals, axis, 'power',
                                    back_off=False) for _ in range(40)]
    assert first_round == [None] * 40
    rng, shape, points, normals = cylinder_grasp_inputs(seed, 'left')
    check_grasp(grasp.sample_grasp(rng, shape, cylinder, points, normals, long_axis=axis,
                                   grasp_type='power'), 'power')


def test_sample_grasp_finds_a_grasp_for_every_seed():
    # Power grasps of the cylinder are the ones that failed (0.5 % of seeds); a sweep of
    # 12,000 calls (seeds 0-1999, every type and side) found no None after the fix.
    axis = np.array([0.0, 0.0, 1.0])
    for seed in range(300, 324):
        for side in hand.SIDES:
            rng, shape, points, normals = cylinder_grasp_inputs(seed, side)
            result = grasp.sample_grasp(rng, shape, cylinder, points, normals,
                                        long_axis=axis, grasp_type='power')
            assert result is not None, (seed, side)


def test_a_grasp_is_a_function_of_the_seed():
    axis = np.array([0.0, 0.0, 1.0])
    results = []
    for _ in range(2):
        rng, shape, points, normals = cylinder_grasp_inputs(7, 'right')
        results.append(grasp.sample_grasp(rng, shape, cylinder, points, normals,
                                          long_axis=axis))
    np.testing.assert_array_equal(results[0].object_T_hand, results[1].object_T_hand)
    np.testing.assert_array_equal(results[0].pose.angles, results[1].pose.angles)
