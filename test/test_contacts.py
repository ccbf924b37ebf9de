"""
Contacts of the pipeline (``reconstruct.contacts.find_contacts``): the rule pinned by value.

At the default ``contact_distance`` (5 mm) and no reconstruction tolerance (exact
surfaces): a 3 mm gap is a contact, a 7 mm gap is not, a point inside the object is. The
pipeline adds ``contact_cells`` lattice cells of tolerance for reconstructed meshes; the
per-part decision, the object-side check, the OBJECT normals and the benchmark's scoring
are pinned below too.
"""

import dataclasses
import json

import numpy as np
import pytest
import trimesh

from c2f_sdf_ros.data.synth_folder import SynthFolder
from c2f_sdf_ros.eval import contacts as bench_contacts
from c2f_sdf_ros.eval.contacts import part_scores, truth_parts
from c2f_sdf_ros.geometry.mesh import signed_distance
from c2f_sdf_ros.reconstruct import contacts as contacts_module
from c2f_sdf_ros.reconstruct.contacts import (
    PART_LITTLE,
    PART_NAMES,
    Contacts,
    lattice_cell,
    part_labels,
)

# The names the pipeline has always exported stay importable from it.
from c2f_sdf_ros.reconstruct.pipeline import (
    JOINT_PARTS,
    LATTICES,
    PART_INDEX,
    PART_PALM,
    PART_THUMB,
    ReconstructorConfig,
    find_contacts,
)

HALF = 0.05     # the object: a 10 cm box, faces at x, y, z = +-5 cm
DEFAULT = ReconstructorConfig().contact_distance


def probe_hand(offsets):
    """
    A 'hand' of one small tetrahedron per offset.

    Its probe vertex sits ``offset`` (m) outside the object's +x face (negative: inside),
    its other three vertices 3 cm out.
    """
    vertices, faces = [], []
    for k, offset in enumerate(offsets):
        y = -0.03 + 0.03 * k
        probe = [HALF + offset, y, 0.0]
        base = [[HALF + 0.03, y - 0.004, -0.004], [HALF + 0.03, y + 0.004, -0.004],
                [HALF + 0.03, y, 0.004]]
        vertices += [probe, *base]
        faces += [[4 * k + a, 4 * k + b, 4 * k + c]
                  for a, b, c in ((0, 1, 2), (0, 2, 3), (0, 3, 1), (1, 3, 2))]
    return trimesh.Trimesh(np.array(vertices), np.array(faces), process=False)


def joints_at(thumb_tip, index_tip):
    joints = np.full((21, 3), 1.0)     # far away, palm joints included
    joints[0] = (0.5, 0.0, 0.0)        # wrist
    joints[4], joints[8] = thumb_tip, index_tip
    return joints


@pytest.fixture(scope='module')
def box():
    return trimesh.creation.box((2 * HALF,) * 3)


def test_the_default_contact_distance_is_5_mm():
    assert DEFAULT == 0.005


def test_a_3_mm_gap_is_a_contact_a_7_mm_gap_is_not_and_inside_is(box):
    hand = probe_hand([0.003, 0.007, -0.010])
    contacts = find_contacts(hand, box, joints_at((HALF, -0.03, 0), (HALF, 0.03, 0)),
                             DEFAULT)
    # The 3 mm probe and the one 1 cm deep, nothing else (the 7 mm probe, the 3 cm bases).
    order = np.argsort(contacts.positions[:, 1])
    np.testing.assert_allclose(contacts.positions[order],
                               [[HALF + 0.003, -0.03, 0.0], [HALF - 0.010, 0.03, 0.0]])
    np.testing.assert_allclose(contacts.distances[order], [0.003, -0.010], atol=1e-6)
    assert contacts.parts[order].tolist() == [PART_THUMB, PART_INDEX]
    assert contacts.normals.shape == (2, 3)


@pytest.mark.parametrize('offset,touching', [
    (0.0, True), (0.0045, True), (0.0055, False), (-0.002, True), (-0.02, True)])
def test_the_rule_is_signed_distance_at_most_the_contact_distance(box, offset, touching):
    contacts = find_contacts(probe_hand([offset]), box, joints_at((2, 2, 2), (3, 3, 3)),
                             DEFAULT)
    assert len(contacts) == int(touching)


def test_the_contact_distance_is_a_parameter(box):
    hand = probe_hand([0.007])
    joints = joints_at((2, 2, 2), (3, 3, 3))
    assert len(find_contacts(hand, box, joints, 0.008)) == 1
    assert len(find_contacts(hand, box, joints, 0.006)) == 0
    assert len(find_contacts(probe_hand([0.0]), box, joints, 0.0)) == 1


def test_contacts_take_the_part_of_the_nearest_joint(box):
    joints = joints_at((2, 2, 2), (3, 3, 3))
    joints[0] = (HALF + 0.003, -0.03, 0.0)          # the wrist at the probe: palm
    contacts = find_contacts(probe_hand([0.003]), box, joints, DEFAULT)
    assert contacts.parts.tolist() == [PART_PALM]
    assert JOINT_PARTS.shape == (21,) and JOINT_PARTS[0] == PART_PALM
    assert [JOINT_PARTS[j] for j in (1, 2, 3, 4)] == [PART_THUMB] * 4
    assert [JOINT_PARTS[j] for j in (5, 6, 7, 8)] == [PART_PALM] + [PART_INDEX] * 3


# -- the rule beyond the pinned threshold ---------------------------------------------------
def test_the_pipeline_module_re_exports_the_contacts_module():
    assert find_contacts is contacts_module.find_contacts
    assert JOINT_PARTS is contacts_module.JOINT_PARTS
    assert PART_NAMES[PART_THUMB] == 'thumb' and PART_NAMES[PART_LITTLE] == 'little'


def test_normals_are_the_object_surface_normals_pointing_out(box):
    hand = probe_hand([0.003, 0.007, -0.010])
    contacts = find_contacts(hand, box, joints_at((HALF, -0.03, 0), (HALF, 0.03, 0)),
                             DEFAULT)
    # Both contacts face the box's +x face (the deep one is nearer it than to +-y).
    np.testing.assert_allclose(contacts.normals, [[1.0, 0.0, 0.0]] * 2, atol=1e-6)


def test_normals_stay_outward_on_an_inward_wound_object(box):
    inverted = box.copy()
    inverted.invert()                        # faces wound the other way round
    contacts = find_contacts(probe_hand([0.003]), inverted,
                             joints_at((HALF, -0.03, 0), (3, 3, 3)), DEFAULT)
    np.testing.assert_allclose(contacts.normals, [[1.0, 0.0, 0.0]], atol=1e-6)


def test_tolerance_widens_the_per_part_decision_and_reports_the_patch(box):
    hand = probe_hand([0.012, 0.020])                      # both thumb (nearest joint)
    joints = joints_at((HALF, -0.03, 0), (3, 3, 3))
    assert len(find_contacts(hand, box, joints, DEFAULT)) == 0
    contacts = find_contacts(hand, box, joints, DEFAULT, tolerance=0.02)
    # Threshold 25 mm: the thumb touches; its patch is within 5 mm of its closest 12 mm.
    np.testing.assert_allclose(contacts.distances, [0.012], atol=1e-6)
    assert contacts.touching == (PART_THUMB,) and contacts.touching_names == ('thumb',)
    np.testing.assert_allclose(contacts.gaps[PART_THUMB], 0.012, atol=1e-6)
    with pytest.raises(ValueError):
        find_contacts(hand, box, joints, DEFAULT, tolerance=-0.001)


def test_gaps_are_per_part_and_filled_without_contacts(box):
    far = find_contacts(probe_hand([0.007, 0.009, 0.011]), box,
                        joints_at((HALF, -0.03, 0), (HALF, 0.035, 0)), DEFAULT)
    assert len(far) == 0 and far.touching == ()
    # Probes 1 and 2 are nearest the thumb tip, probe 3 the index tip; no palm points.
    np.testing.assert_allclose(far.gaps[[PART_THUMB, PART_INDEX]], [0.007, 0.011], atol=1e-6)
    assert np.isinf(far.gaps[PART_PALM])


def test_an_object_edge_between_hand_vertices_is_found_from_the_object_side():
    # A 10 cm slab over the apex of a cone: every hand vertex is 5+ cm from the object,
    # but the apex is 3 mm under the slab.
    hand = trimesh.creation.box((0.1, 0.1, 0.01)).apply_translation((0, 0, 0.008))
    cone = trimesh.creation.cone(0.02, 0.03).apply_translation((0, 0, -0.03))
    joints = np.full((21, 3), 1.0)
    joints[0] = (0.5, 0.0, 0.0)
    joints[4] = (0.0, 0.0, 0.01)                                  # thumb tip over the apex
    hand_only = signed_distance(cone, hand.vertices).min()
    assert hand_only > 0.05
    contacts = find_contacts(hand, cone, joints, DEFAULT)
    assert contacts.touching == (PART_THUMB,)
    nearest = np.argmin(contacts.distances)
    np.testing.assert_allclose(contacts.positions[nearest], (0.0, 0.0, 0.003), atol=1e-6)
    np.testing.assert_allclose(contacts.distances[nearest], 0.003, atol=1e-6)
    assert contacts.normals[nearest][2] > 0.9                     # out of the apex: up


def test_part_labels_and_the_lattice_cell():
    joints = joints_at((HALF, -0.03, 0), (HALF, 0.03, 0))
    assert part_labels([[HALF, -0.03, 0.001], [0.5, 0, 0]], joints).tolist() == \
        [PART_THUMB, PART_PALM]
    with pytest.raises(ValueError):
        part_labels(np.zeros((1, 3)), np.zeros((20, 3)))
    # [-1, 1] spans 4 / 6.2 m over 127 cells at 128.
    assert lattice_cell(128, 6.2) == pytest.approx(4 / 6.2 / 127)
    assert 0.005 < lattice_cell(128, 6.2) < 0.0052
    with pytest.raises(ValueError):
        lattice_cell(1, 6.2)
    assert Contacts.empty().gaps.shape == (6,)


def test_the_node_default_tolerance_is_five_cells():
    config = ReconstructorConfig()
    assert config.contact_cells == 5.0
    with pytest.raises(ValueError):
        ReconstructorConfig(contact_cells=-1.0)


# -- the benchmark's scoring ----------------------------------------------------------------
def test_part_scores_count_precision_and_recall():
    truth = np.array([[1, 1], [1, 0], [0, 0], [1, 0]], bool)
    predicted = np.array([[1, 0], [0, 0], [1, 0], [1, 0]], bool)
    first, second = part_scores(truth, predicted)
    assert (first['tp'], first['fp'], first['fn'], first['positives']) == (2, 1, 1, 3)
    assert first['precision'] == pytest.approx(2 / 3) and first['recall'] == pytest.approx(2 / 3)
    assert first['base_rate'] == pytest.approx(0.75)
    assert np.isnan(second['precision']) and second['recall'] == 0.0
    with pytest.raises(ValueError):
        part_scores(truth, predicted[:3])


def synth_folder(tmp_path, meta, hand=None, obj=None):
    (tmp_path / 'meta').mkdir()
    (tmp_path / 'mesh').mkdir()
    (tmp_path / 'info.json').write_text('{}')
    (tmp_path / 'meta' / '000000.json').write_text(json.dumps(meta))
    if hand is not None:
        hand.export(tmp_path / 'mesh' / '000000_hand.ply')
        obj.export(tmp_path / 'mesh' / '000000_object.ply')
    return SynthFolder(tmp_path)


def test_truth_comes_from_the_recorded_gaps(tmp_path):
    gaps = {'palm': 8.7, 'thumb': -1.1, 'index': 0.0, 'middle': 2.9, 'ring': 3.1,
            'little': 23.0}
    folder = synth_folder(tmp_path, {'finger_gaps_mm': gaps})
    assert truth_parts(folder, 0).tolist() == [False, True, True, True, False, False]
    assert truth_parts(folder, 0, distance=0.01).tolist() == [True] * 5 + [False]


def test_truth_falls_back_to_the_meshes(tmp_path, box):
    joints = joints_at((HALF, -0.03, 0), (HALF, 0.03, 0))
    folder = synth_folder(tmp_path, {'joints_3d': joints.tolist()},
                          probe_hand([0.002, 0.009, 0.004]), box)
    # Thumb: 2 mm (and 9 mm), index: 4 mm; truth within 3 mm.
    assert truth_parts(folder, 0).tolist() == [False, True, False, False, False, False]


def test_a_vertex_exactly_at_the_contact_distance_is_a_contact():
    # Dyadic sizes: the ray-cast distance is exactly 2^-8 m.
    obj = trimesh.creation.box((0.125,) * 3)                       # faces at +-2^-4 m
    hand = trimesh.creation.box((0.01,) * 3).apply_translation((0.0625 + 0.005 + 2 ** -8,
                                                                0, 0))
    joints = joints_at((2, 2, 2), (3, 3, 3))
    contacts = find_contacts(hand, obj, joints, 2 ** -8)
    assert len(contacts) == 4                                       # the face towards obj
    np.testing.assert_array_equal(contacts.distances, 2 ** -8)
    assert len(find_contacts(hand, obj, joints, np.nextafter(2 ** -8, 0))) == 0


def test_contacts_arrays_and_the_empty_set():
    contacts = find_contacts(probe_hand([0.003]), trimesh.creation.box((2 * HALF,) * 3),
                             joints_at((2, 2, 2), (3, 3, 3)), DEFAULT)
    assert contacts.parts.dtype == np.uint8 and contacts.positions.dtype == np.float64
    empty = Contacts.empty()
    assert len(empty) == 0
    assert empty.positions.shape == (0, 3) and empty.normals.shape == (0, 3)
    assert empty.distances.shape == (0,) and empty.parts.shape == (0,)
    assert empty.parts.dtype == np.uint8


@pytest.mark.parametrize('settings,message', [
    ({'lattice': 'sparse'}, 'lattice must be one of'),
    ({'resolution': 7}, r'resolution must be in \[8, 512\], got 7'),
    ({'resolution': 513}, r'resolution must be in \[8, 512\], got 513'),
    ({'refine_iterations': -1}, r'refine_iterations must be in \[0, 10\]'),
    ({'refine_iterations': 11}, r'refine_iterations must be in \[0, 10\]'),
    ({'contact_distance': -1e-9}, 'contact_distance >= 0'),
    ({'query_batch': 0}, 'query_batch >= 1'),
])
def test_reconstructor_config_rejects_out_of_range_settings(settings, message):
    with pytest.raises(ValueError, match=message):
        ReconstructorConfig(**settings)


def test_reconstructor_config_takes_the_ends_of_its_ranges():
    for settings in ({'resolution': 8}, {'resolution': 512}, {'refine_iterations': 0},
                     {'refine_iterations': 10}, {'contact_distance': 0.0},
                     {'query_batch': 1}, *({'lattice': name} for name in LATTICES)):
        ReconstructorConfig(**settings)
    assert dataclasses.asdict(ReconstructorConfig())['contact_distance'] == 0.005


@pytest.mark.parametrize('part_joints', ['model', 'truth'])
def test_bench_contacts_runs_on_the_bundled_frames(capsys, part_joints):
    status = bench_contacts.main(['--frames', '1', '--resolution', '32', '--threads', '1',
                                  '--sweep', '', '--part-joints', part_joints, '--json'])
    assert status == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary['part_joints'] == part_joints and summary['frames'] == 1
    assert set(summary['parts']) == set(PART_NAMES)
    assert len(summary['per_frame']) == 1
