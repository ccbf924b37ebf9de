"""``c2f-sdf bench-detector --synth``: the share of synthetic hands found, and their sides."""

import numpy as np
import pytest

from c2f_sdf_ros.data.synth.generate import generate
from c2f_sdf_ros.data.synth_folder import SynthFolder
from c2f_sdf_ros.detect import flip_side
from c2f_sdf_ros.detect.hands import DetectedHand
from c2f_sdf_ros.eval.bench_detector import (
    VIEWS,
    benchmark_synthetic,
    main,
    view_of,
    visible_share,
)

FRAMES = 2


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp('synth_sides')
    generate(root, FRAMES, seed=3, split='test', workers=1)
    return root


class TruthDetector:
    """Reports each frame's true hand, from its meta: a known answer to score."""

    def __init__(self, folder, side=lambda truth: truth, shift=0.0, extra=False):
        self.synth = SynthFolder(folder)
        # Which frame an image is (the detector is only given the image).
        self.index = {self.synth.read(i).color.tobytes(): i for i in range(len(self.synth))}
        self.side, self.shift, self.extra = side, shift, extra

    def detect(self, color, depth, camera):
        meta = self.synth.meta(self.index[color.tobytes()])
        landmarks = np.asarray(meta['joints_2d'], float) + self.shift
        hands = [DetectedHand.from_landmarks(landmarks, np.zeros(21), 0.9,
                                             self.side(meta['hand_side']), 0.9)]
        if self.extra:
            hands.append(DetectedHand.from_landmarks(landmarks + 1000.0, np.zeros(21), 0.5))
        return hands


def test_a_detector_that_reports_the_truth_finds_every_hand_with_its_side(folder):
    lines = []
    detector = TruthDetector(folder)
    stats = benchmark_synthetic(folder, detector, out=lines.append)
    assert stats['frames'] == stats['found'] == stats['side_correct'] == FRAMES
    assert stats['extra'] == 0 and len(stats['ms']) == FRAMES
    assert sum(sum(c.values()) for c in stats['sides'].values()) == FRAMES
    assert f'found {FRAMES}/{FRAMES} (100 %)' in lines[0]
    assert f'side right on {FRAMES}/{FRAMES}' in lines[1]
    # Every frame falls in one view and one visibility class, all of them found.
    assert sum(total for _, total in stats['views'].values()) == FRAMES
    assert sum(total for _, total in stats['visible'].values()) == FRAMES
    for found, total in (*stats['views'].values(), *stats['visible'].values()):
        assert found == total
    assert lines[2].startswith('  found by view: palm on')


def test_views_and_visible_share_of_the_hand(folder):
    assert [view_of(c) for c in (0.9, 0.2, -0.2, -0.9, float('nan'))] == \
        ['palm', 'edge', 'edge', 'back', 'edge']
    assert set(VIEWS) == {'palm', 'edge', 'back'}
    with pytest.raises(ValueError):
        view_of(0.0, threshold=1.0)
    synth = SynthFolder(folder)
    frame, meta = synth.rgbd(0)
    hand = synth.meshes(0)[0]
    share = visible_share(meta, hand, frame.camera)
    assert 0.0 < share <= 1.0
    alone = meta['visible_pixels']['hand'] / share
    half = {'visible_pixels': {'hand': alone / 2}}
    assert visible_share(half, hand, frame.camera) == pytest.approx(0.5, abs=0.01)
    assert np.isnan(visible_share({}, hand, frame.camera))
    hidden = hand.copy().apply_translation((0.0, 0.0, -5.0))  # behind the camera
    assert np.isnan(visible_share(meta, hidden, frame.camera))


def test_wrong_sides_and_hands_elsewhere_are_counted(folder):
    flipped = benchmark_synthetic(folder, TruthDetector(folder, side=flip_side),
                                  out=lambda line: None)
    assert flipped['found'] == FRAMES and flipped['side_correct'] == 0
    for truth, reported in flipped['sides'].items():
        assert set(reported) <= {flip_side(truth)}
    elsewhere = benchmark_synthetic(folder, TruthDetector(folder, shift=2000.0),
                                    out=lambda line: None)
    assert elsewhere['found'] == 0 and elsewhere['extra'] == FRAMES
    extra = benchmark_synthetic(folder, TruthDetector(folder, extra=True),
                                out=lambda line: None)
    assert extra['found'] == FRAMES and extra['extra'] == FRAMES


def test_bad_arguments_are_refused(folder, tmp_path, capsys):
    with pytest.raises(ValueError, match='min_in_view'):
        benchmark_synthetic(folder, TruthDetector(folder), min_in_view=1.5)
    with pytest.raises(ValueError, match='min_visible'):
        benchmark_synthetic(folder, TruthDetector(folder), min_visible=-0.1)
    assert main(['--synth', str(tmp_path / 'missing')]) == 2
    assert 'error' in capsys.readouterr().err
