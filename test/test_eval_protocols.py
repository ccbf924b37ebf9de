"""
The evaluation protocols by value: ``evaluate.score`` on meshes with known answers.

Perfect predictions score Chamfer 0 and F-scores 1; a prediction off by a known scale and
shift is recovered by the papers' protocol (ICP on the hand) and its object moves by the
same transform; each F-score threshold counts a point exactly at it and not one a float
beyond it.
"""

import dataclasses
import math
import warnings

import numpy as np
import pytest
import trimesh

from c2f_sdf_ros.eval import evaluate, metrics
from c2f_sdf_ros.reconstruct.pipeline import Reconstruction

CONFIG = evaluate.EvalConfig(samples=4000, seed=0)
ROOT = np.array([0.0, 0.0, 0.5])
# The papers' thresholds (gSDF, C2F-SDF), written out: the tests must not follow the code.
PAPER_HAND = {'f_h@1': 0.001, 'f_h@5': 0.005}
PAPER_OBJECT = {'f_o@5': 0.005, 'f_o@10': 0.010}


def hand_and_object():
    """A capsule 'hand' whose end touches a sphere 'object', half a metre in front."""
    hand = trimesh.creation.capsule(height=0.06, radius=0.01).apply_translation(ROOT)
    obj = trimesh.creation.icosphere(subdivisions=3, radius=0.03)
    obj.apply_translation(ROOT + [0.0, 0.0, 0.04 + 0.03 - 0.002])   # 2 mm overlap
    return hand, obj


def prediction(hand=None, obj=None, root=ROOT):
    joints = np.tile(root, (21, 1)) + np.linspace(0, 0.1, 21)[:, None]   # joints[0] = root
    return Reconstruction(True, hand, obj, joints, root)


def moved(mesh, scale, shift):
    return mesh.copy().apply_scale(scale).apply_translation(shift)


def test_thresholds_are_the_papers():
    assert evaluate.HAND_THRESHOLDS == PAPER_HAND
    assert evaluate.OBJECT_THRESHOLDS == PAPER_OBJECT


@pytest.mark.parametrize('align', [True, False])
def test_a_perfect_prediction_scores_chamfer_0_and_f_1(align):
    hand, obj = hand_and_object()
    # The truth's points are the very points score() samples on the prediction.
    truth = evaluate.Truth(hand, obj,
                           metrics.sample_surface(hand, CONFIG.samples, CONFIG.seed + 2),
                           metrics.sample_surface(obj, CONFIG.samples, CONFIG.seed + 3))
    out = evaluate.score(prediction(hand, obj), truth, ROOT, align, CONFIG)
    assert out['cd_h'] == pytest.approx(0.0, abs=1e-12)
    assert out['cd_o'] == pytest.approx(0.0, abs=1e-12)
    for key in (*PAPER_HAND, *PAPER_OBJECT):
        assert out[key] == 1.0, key
    assert out['root_error_mm'] == 0.0
    assert out['contact'] == 1.0
    assert out['penetration_cm'] == pytest.approx(0.2, abs=0.02)


def test_the_true_meshes_sampled_afresh_score_near_perfect():
    hand, obj = hand_and_object()
    truth = evaluate.Truth.from_meshes(hand, obj, CONFIG)
    out = evaluate.score(prediction(hand, obj), truth, ROOT, False, CONFIG)
    # Two samplings of one surface differ by the sampling spacing only (~1 mm at 4000
    # points: measured 0.008 and 0.018 cm^2, f_h@1 0.92).
    assert out['cd_h'] < 0.02 and out['cd_o'] < 0.04
    assert out['f_h@5'] == out['f_o@5'] == out['f_o@10'] == 1.0
    assert out['f_h@1'] > 0.85


SCALE, SHIFT = 1.08, np.array([0.004, -0.003, 0.002])


def test_the_papers_protocol_undoes_a_known_scale_and_shift_on_both_meshes():
    hand, obj = hand_and_object()
    truth = evaluate.Truth.from_meshes(hand, obj, CONFIG)
    # truth = SCALE * predicted + SHIFT, the same transform for hand and object.
    pred = prediction(moved(hand, 1 / SCALE, -SHIFT / SCALE), moved(obj, 1 / SCALE,
                                                                   -SHIFT / SCALE))
    paper = evaluate.score(pred, truth, ROOT, True, CONFIG)
    deployable = evaluate.score(pred, truth, ROOT, False, CONFIG)
    perfect = evaluate.score(prediction(hand, obj), truth, ROOT, False, CONFIG)
    # Aligned: as good as the true meshes (sampling noise only); unaligned: far off.
    for key in ('cd_h', 'cd_o'):
        assert paper[key] < 1.5 * perfect[key] + 1e-3, (key, paper[key], perfect[key])
        assert deployable[key] > 50 * paper[key], (key, deployable[key])
    assert paper['f_h@5'] == paper['f_o@5'] == paper['f_o@10'] == 1.0
    assert deployable['f_o@5'] < 0.6
    # Penetration and contact are measured on the aligned meshes: those of the truth.
    assert paper['penetration_cm'] == pytest.approx(perfect['penetration_cm'], abs=0.03)
    assert paper['contact'] == 1.0


def test_the_object_moves_by_the_hands_transform_not_its_own():
    hand, obj = hand_and_object()
    truth = evaluate.Truth.from_meshes(hand, obj, CONFIG)
    # Only the hand is off: aligning it drags the (correct) object off by the same
    # transform, as the papers' protocol does.
    pred = prediction(moved(hand, 1 / SCALE, -SHIFT / SCALE), obj)
    paper = evaluate.score(pred, truth, ROOT, True, CONFIG)
    obj_points = metrics.sample_surface(obj, CONFIG.samples, CONFIG.seed + 3)
    expected = metrics.chamfer_cm2(SCALE * obj_points + SHIFT, truth.object_points)
    assert paper['cd_o'] == pytest.approx(expected, rel=0.05)
    assert paper['cd_o'] > 0.1
    assert evaluate.score(pred, truth, ROOT, False, CONFIG)['cd_o'] < 0.04


def test_the_root_error_is_the_predicted_wrist_to_the_true_root_in_mm():
    hand, obj = hand_and_object()
    truth = evaluate.Truth.from_meshes(hand, obj, CONFIG)
    out = evaluate.score(prediction(hand, obj, ROOT + [0.003, 0.0, -0.004]), truth, ROOT,
                         True, CONFIG)
    assert out['root_error_mm'] == pytest.approx(5.0)


def test_missing_meshes_and_a_missed_hand_are_nan():
    hand, obj = hand_and_object()
    truth = evaluate.Truth.from_meshes(hand, obj, CONFIG)
    missed = evaluate.score(Reconstruction(False), truth, ROOT, True, CONFIG)
    assert all(math.isnan(v) for v in missed.values())
    no_object = evaluate.score(prediction(hand), truth, ROOT, True, CONFIG)
    assert math.isfinite(no_object['cd_h']) and math.isnan(no_object['cd_o'])
    assert math.isnan(no_object['contact']) and math.isnan(no_object['penetration_cm'])


def flat_square(side=0.04):
    """A square in the plane x = 0: every point sampled on it has x exactly 0."""
    y, z = side / 2, ROOT[2]
    vertices = np.array([[0.0, -y, z - y], [0.0, y, z - y], [0.0, y, z + y],
                         [0.0, -y, z + y]])
    return trimesh.Trimesh(vertices, [[0, 1, 2], [0, 2, 3]], process=False)


def shifted_in_x(points, distance):
    """The points moved to x = distance: each is ``distance`` from its own, none nearer."""
    out = points.copy()
    out[:, 0] = distance
    return out


def threshold_cases(thresholds):
    """(distance, expected F per key) at, a float under and a float over each threshold."""
    cases = []
    for name, t in thresholds.items():
        for where, distance in zip(('under', 'at', 'over'),
                                   (np.nextafter(t, 0.0), t, np.nextafter(t, 1.0)),
                                   strict=True):
            expected = {k: float(distance <= v) for k, v in thresholds.items()}
            cases.append(pytest.param(distance, expected, id=f'{name}-{where}'))
    return cases


@pytest.mark.parametrize('distance,expected', threshold_cases(PAPER_HAND))
def test_hand_f_scores_count_exactly_to_1_and_5_mm(distance, expected):
    square = flat_square()
    points = metrics.sample_surface(square, CONFIG.samples, CONFIG.seed + 2)
    truth = evaluate.Truth(square, square, shifted_in_x(points, distance), points)
    assert np.all(metrics.nearest_distances(points, truth.hand_points) == distance)
    out = evaluate.score(prediction(square), truth, ROOT, False, CONFIG)
    assert {k: out[k] for k in expected} == expected
    assert out['cd_h'] == pytest.approx(2 * (distance * 100) ** 2)


@pytest.mark.parametrize('distance,expected', threshold_cases(PAPER_OBJECT))
def test_object_f_scores_count_exactly_to_5_and_10_mm(distance, expected):
    square = flat_square()
    points = metrics.sample_surface(square, CONFIG.samples, CONFIG.seed + 3)
    truth = evaluate.Truth(square, square, points, shifted_in_x(points, distance))
    out = evaluate.score(prediction(obj=square), truth, ROOT, False, CONFIG)
    assert {k: out[k] for k in expected} == expected
    assert out['cd_o'] == pytest.approx(2 * (distance * 100) ** 2)


def test_truth_keeps_its_meshes_and_samples_them_with_the_seed():
    hand, obj = hand_and_object()
    config = evaluate.EvalConfig(samples=500, seed=7)
    truth = evaluate.Truth.from_meshes(hand, obj, config)
    assert truth.hand is hand and truth.object is obj
    np.testing.assert_array_equal(truth.hand_points, metrics.sample_surface(hand, 500, 7))
    np.testing.assert_array_equal(truth.object_points, metrics.sample_surface(obj, 500, 8))


def test_penetration_volume_and_contact_distance_of_the_aligned_meshes():
    # A hand 1 cm into the object: intersection and penetration are those of the truth.
    hand = trimesh.creation.box((0.04, 0.02, 0.02)).apply_translation(ROOT)
    obj = trimesh.creation.box((0.04, 0.04, 0.04)).apply_translation(ROOT + [0.03, 0, 0])
    truth = evaluate.Truth.from_meshes(hand, obj, CONFIG)
    pred = prediction(moved(hand, 1 / SCALE, -SHIFT / SCALE), moved(obj, 1 / SCALE,
                                                                   -SHIFT / SCALE))
    out = evaluate.score(pred, truth, ROOT, True, CONFIG)
    assert out['intersection_cm3'] == pytest.approx(
        metrics.intersection_volume_cm3(hand, obj), abs=0.5)
    assert out['intersection_cm3'] >= 2.0                  # 1 x 2 x 2 cm overlap, 5 mm voxels
    assert out['penetration_cm'] == pytest.approx(1.0, abs=0.05)
    # Contact uses the configured distance: a 5 mm gap is contact at 1 cm, not at 2 mm.
    apart = prediction(hand, obj.copy().apply_translation((0.015, 0, 0)))
    assert evaluate.score(apart, truth, ROOT, False, CONFIG)['contact'] == 0.0
    wide = evaluate.EvalConfig(samples=CONFIG.samples, contact_distance=0.01)
    assert evaluate.score(apart, truth, ROOT, False, wide)['contact'] == 1.0


def test_summary_means_over_frames_where_the_metric_exists():
    rows = [dict.fromkeys(evaluate.METRIC_KEYS, 1.0),          # no 'found': a found hand
            dict.fromkeys(evaluate.METRIC_KEYS, 3.0) | {'found': 1.0},
            dict.fromkeys(evaluate.METRIC_KEYS, math.nan) | {'found': 0.0}]
    rows[1]['cd_o'] = math.nan
    summary = evaluate.summarise(rows)
    assert summary['frames'] == 3 and summary['missed'] == 1
    assert summary['missing_hand'] == 1 and summary['missing_object'] == 2
    assert summary['cd_h'] == 2.0 and summary['cd_o'] == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter('error')          # no mean of an empty slice
        assert math.isnan(evaluate.summarise([rows[2]])['f_h@1'])


def test_the_protocols_pipelines():
    from c2f_sdf_ros.reconstruct.pipeline import Reconstructor, ReconstructorConfig

    node = Reconstructor(None, 'cpu', ReconstructorConfig(resolution=64, refine_iterations=3))
    pipelines = evaluate.protocol_reconstructors(node, evaluate.EvalConfig(resolution=32))
    assert set(pipelines) == set(evaluate.PROTOCOLS)
    paper, deployable = pipelines['paper'].config, pipelines['deployable'].config
    # The papers': ground-truth root, no re-centring, the evaluation's lattice (not SER).
    assert (paper.refine_iterations, paper.resolution) == (0, 32)
    assert paper.lattice != 'ser'
    # The model's own object: no held-object segmentation, no depth alignment.
    assert paper.held_object is None and paper.depth_align is False
    # Deployable: the node's settings, at the evaluation's resolution.
    assert deployable == dataclasses.replace(node.config, resolution=32)
    assert pipelines['paper'].model is node.model           # one copy of the weights


def test_model_labels_tell_every_weights_path_apart():
    from c2f_sdf_ros.eval.cli import model_labels

    assert model_labels(['runs/a/last'], ['full']) == ['full']
    assert model_labels(['runs/a/last', 'runs/b/last'], ['full', 'pixel_rgb']) == \
        ['full', 'pixel_rgb']
    assert model_labels(['runs/a/last', 'runs/a/best'], ['full', 'full']) == \
        ['full (last)', 'full (best)']
    # Two runs' last checkpoints: the stem alone would merge their rows into one.
    assert model_labels(['runs/r2/last', 'runs/r3/last'], ['full', 'full']) == \
        ['full (r2/last)', 'full (r3/last)']
    assert model_labels(['x/r/last', 'y/r/last'], ['full', 'full']) == \
        ['full (x/r/last)', 'full (y/r/last)']
    assert model_labels(['w', 'w'], ['full', 'full']) == ['full (w) #1', 'full (w) #2']
    with pytest.raises(ValueError, match='2 paths but 1 variants'):
        model_labels(['a', 'b'], ['full'])
