"""The pipeline's hand finder: a real detector by default, several hands, no hand -> none."""

from dataclasses import replace
import logging

import numpy as np
import pytest

from c2f_sdf_ros.geometry.camera import CameraIntrinsics
from c2f_sdf_ros.reconstruct import hand_finder
from c2f_sdf_ros.reconstruct.hand_finder import FinderConfig, HandFinder
from c2f_sdf_ros.reconstruct.pipeline import Reconstructor, ReconstructorConfig
from helpers.real_frames import KITCHEN, real_folder, two_hand_frame

CAMERA = CameraIntrinsics(640, 480, 600.0, 610.0, 330.0, 235.0)


@pytest.fixture(scope='module')
def reconstructor():
    return Reconstructor(device='cpu', config=ReconstructorConfig(resolution=32), threads=1)


def skin_box_frame():
    """A skin-coloured box in front of a wall: the skin/depth fallback's classic mistake."""
    color = np.full((CAMERA.height, CAMERA.width, 3), (90, 110, 130), np.uint8)
    depth = np.full((CAMERA.height, CAMERA.width), 1.2, np.float32)
    color[180:300, 260:380] = (224, 172, 140)
    depth[180:300, 260:380] = 0.6
    return color, depth


def test_finder_config_is_validated():
    with pytest.raises(ValueError, match='detector'):
        FinderConfig(detector='yolo')
    with pytest.raises(ValueError, match='max_hands'):
        FinderConfig(max_hands=0)
    with pytest.raises(ValueError, match='min_hand_score'):
        FinderConfig(min_hand_score=1.5)


def test_a_skin_coloured_box_is_not_a_hand():
    color, depth = skin_box_frame()
    assert HandFinder(FinderConfig('mediapipe')).find(color, depth, CAMERA) == []
    # The fallback takes the box for a hand: why it is only a fallback.
    assert len(HandFinder(FinderConfig('skin_depth')).find(color, depth, CAMERA)) == 1


def test_without_mediapipe_the_fallback_runs_with_one_warning(monkeypatch, caplog):
    def missing(*args, **kwargs):
        raise ImportError('No module named mediapipe\nsecond line')
    monkeypatch.setattr(hand_finder, 'make_detector', missing)
    with caplog.at_level(logging.WARNING, logger='c2f_sdf_ros.reconstruct'):
        finder = HandFinder(FinderConfig('mediapipe'))
    assert finder.name == 'skin_depth'
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert 'MediaPipe is not installed' in message and '\n' not in message


def test_two_hands_are_reconstructed_each_in_its_crop_with_its_side(reconstructor):
    frame = two_hand_frame()
    # Without the depth registration, which moves the result onto the measured surface.
    unaligned = reconstructor.with_config(replace(reconstructor.config, depth_align=False))
    result = unaligned.reconstruct_frame(frame.color, frame.depth, frame.camera.K)
    assert sorted(hand.side for hand in result.hands) == ['left', 'right']
    half = frame.camera.width // 2
    for hand in result.hands:
        assert hand.hand_mesh is not None
        u = frame.camera.project(np.asarray(hand.hand_mesh.vertices).mean(0, keepdims=True))
        # The mirrored (left) hand is in the left half, the real right hand in the right.
        assert (u[0, 0] < half) == (hand.side == 'left')
        # The crop stays on the detected wrist (no re-centring on a guess).
        np.testing.assert_allclose(hand.root, hand.seed.joints[0])
    assert result.queries == sum(hand.queries for hand in result.hands)
    assert result.timings['localise'] > 0


def test_hand_free_real_frames_give_no_hand(reconstructor):
    folder = real_folder(KITCHEN.name)
    for index in (0, 1, 13):   # labels.json: hands []
        frame = folder.read(index)
        result = reconstructor.reconstruct_frame(frame.color, frame.depth, frame.camera.K)
        assert result.hands == [], index
        single = reconstructor.reconstruct(frame.color, frame.depth, frame.camera.K)
        assert not single.found and single.timings['localise'] > 0
