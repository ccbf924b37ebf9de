"""``c2f-sdf eval-real``: the pipeline on real frame folders, scored with their labels."""

import json

import numpy as np
from PIL import Image
import pytest
import trimesh

from c2f_sdf_ros.data.frame_folder import RgbdFrame
from c2f_sdf_ros.eval import real
from c2f_sdf_ros.geometry.camera import CameraIntrinsics
from helpers.real_frames import two_hand_frame, write_folder

CAMERA = CameraIntrinsics(64, 48, 50.0, 52.0, 31.0, 25.0)


def plane_frame(z=1.0):
    return RgbdFrame(np.full((48, 64, 3), 120, np.uint8), np.full((48, 64), z, np.float32),
                     CAMERA)


def square(z, half=0.4):
    return trimesh.Trimesh([[-half, -half, z], [half, -half, z], [half, half, z],
                            [-half, half, z]], [[0, 1, 2], [0, 2, 3]], process=False)


def test_depth_agreement_is_the_median_depth_gap_where_both_exist():
    frame = plane_frame(1.0)
    frame.depth[:, :10] = 0.0                      # no measurement: not counted
    agreement = real.depth_agreement([square(1.02), None, square(9.0, 0.01)], frame)
    assert agreement[0] == pytest.approx(0.02, abs=1e-5)
    assert np.isnan(agreement[1])                  # no mesh
    assert np.isnan(agreement[2])                  # seen nowhere (hidden behind the first)


def test_mask_scores_of_a_mesh_on_its_own_silhouette():
    frame = plane_frame(1.0)
    mesh = square(1.0, 0.2)
    from c2f_sdf_ros.geometry.render import render_meshes
    mask = render_meshes([mesh], CAMERA).index == 0
    iou, distance = real.mask_scores(mesh, mask, frame)
    assert iou == 1.0 and distance == pytest.approx(0.0, abs=1e-4)
    assert real.mask_scores(None, mask, frame)[0] == 0.0


def test_labels_are_read_and_a_bad_labels_file_is_refused(tmp_path):
    (tmp_path / 'labels.json').write_text('{"frames": {"000000": {"hands": []}}}')
    (tmp_path / 'cup_mask').mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / 'cup_mask' / '000000.png')
    labels = real.FolderLabels.read(tmp_path)
    assert labels.boxes == {'000000': []} and list(labels.masks) == ['000000']
    (tmp_path / 'labels.json').write_text('{"hands": []}')
    with pytest.raises(ValueError, match='labels.json'):
        real.FolderLabels.read(tmp_path)


def test_a_folder_without_hands_runs_and_reports_none(tmp_path, capsys):
    root = write_folder(tmp_path / 'empty', [plane_frame(0.8), plane_frame(1.1)])
    (root / 'labels.json').write_text(json.dumps(
        {'frames': {'000000': {'hands': []}, '000001': {'hands': []}}}))
    assert real.main([str(root), '--json', '--resolution', '32', '--threads', '1']) == 0
    summary = json.loads(capsys.readouterr().out)['folders']['empty']
    assert summary['frames'] == 2 and summary['frames_with_hands'] == 0
    assert summary['hand_free_frames'] == 2 and summary['hands_on_hand_free_frames'] == 0


def test_missing_folder_is_a_clear_error(tmp_path, capsys):
    assert real.main([str(tmp_path / 'nothing')]) == 2
    assert 'not a frame folder' in capsys.readouterr().err


def test_two_labelled_hands_are_found_with_their_sides(tmp_path, capsys):
    frame = two_hand_frame()
    half = frame.camera.width // 2
    # The kitchen frame's labelled right-hand box (labels.json, frame 000007), moved into
    # the composite, and its mirror for the left hand.
    u0 = 950 - half // 2
    right = [860 - u0 + half, 320, 1030 - u0 + half, 510]
    left = [2 * half - 1 - right[2], 320, 2 * half - 1 - right[0], 510]
    root = write_folder(tmp_path / 'two', [frame])
    (root / 'labels.json').write_text(json.dumps({'frames': {'000000': {'hands': [
        {'side': 'left', 'box_xyxy': left}, {'side': 'right', 'box_xyxy': right}]}}}))
    out = tmp_path / 'out'
    assert real.main([str(root), '--json', '--resolution', '32', '--threads', '1',
                      '--out', str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)['folders']['two']
    assert summary['found_on_label'] == 2 and summary['side_correct'] == 2
    assert summary['hand_depth_m'] < 0.1
    assert (out / 'contact_sheet.png').is_file()
    rows = [json.loads(line) for line in (out / 'per_frame.jsonl').read_text().splitlines()]
    assert rows[0]['hands'] == 2 and sorted(rows[0]['sides']) == ['left', 'right']
