"""
How well and how fast a hand detector does on real RGB-D frame folders (a measurement, not a test).

``benchmark_detector`` reads every frame folder under a root (``camera.yaml``,
``color/<id>.png``, ``depth/<id>.png`` in uint16 mm) and measures, with whatever labels a
folder has:

- ``labels.json`` (``frames: {id: {hands: [{side, box_xyxy}]}}``): frames whose labelled hand
  is found (a detected hand whose box centre lies in the labelled box), hands reported on
  frames labelled ``hands: []``, hands outside every box, and whether the side is right;
- ``hand_pseudo_gt/<id>.ply`` (hand meshes in the camera frame, metres): frames where a
  detected hand's joint centre lies within ``max_centre_error`` of the mesh's centre;
- otherwise: the fraction of frames with a hand, and the sides reported.

And the time of ``detect`` (detection and lifting) per frame, by image size.
``c2f-sdf bench-detector`` runs it; ``c2f-sdf eval-real`` scores the whole pipeline.

``benchmark_synthetic`` (``--synth DIR``) measures the same detector on a synthetic folder
(``c2f-sdf synth``), whose every frame has one hand with known joints and side: how
realistic the rendered hands look to a real detector (the share it finds: a detected hand
whose box centre lies in the box of the ground-truth 2D joints), and how often the side
it reports is right. It breaks the share found down by what makes a hand hard to see:
which way the palm faces the camera (``palm_facing``: palm, edge or back on) and how much
of the hand the rest of the scene hides (visible pixels against the hand rendered alone).
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable
import json
import math
import os
import pathlib
import statistics
import sys
import time

import numpy as np
import trimesh

from c2f_sdf_ros.data.frame_folder import FrameFolder
from c2f_sdf_ros.data.synth_folder import SynthFolder
from c2f_sdf_ros.detect import make_detector
from c2f_sdf_ros.detect.handedness import palm_facing
from c2f_sdf_ros.detect.hands import DetectedHand, HandDetector
from c2f_sdf_ros.eval.real import FolderLabels
from c2f_sdf_ros.geometry.camera import CameraIntrinsics
from c2f_sdf_ros.geometry.render import render_meshes

DEFAULT_FOLDERS = ('cerd_kitchen_pour', 'irvl_fetch_whiteboard_eraser', 'irvl_fetch_pick_plush')
DEFAULT_ROOT = pathlib.Path(__file__).resolve().parents[3] / 'shared' / 'real'
# How a synthetic hand is seen: palm on (cosine of palm normal and line of sight above
# VIEW_COSINE), back on (below -VIEW_COSINE), or edge on.
VIEWS = ('palm', 'edge', 'back')
VIEW_COSINE = 0.5


def _centre_in(hand: DetectedHand, box) -> bool:
    u = 0.5 * (hand.box[0] + hand.box[2])
    v = 0.5 * (hand.box[1] + hand.box[3])
    return box[0] <= u <= box[2] and box[1] <= v <= box[3]


def benchmark_folder(folder: str | os.PathLike, detector: HandDetector, *,
                     max_centre_error: float = 0.05, warmup: int = 1,
                     out: Callable[[str], None] = print) -> dict:
    """
    Run ``detector`` on every frame of one frame folder; print and return the numbers.

    Parameters
    ----------
    folder : path
        A frame folder (see the module doc for the labels it may hold).
    detector : HandDetector
        The detector to measure.
    max_centre_error : float
        Distance (m) within which a hand matches a pseudo-ground-truth mesh centre.
    warmup : int
        Frames run once before timing (the first calls of a graph are slower).
    out : callable
        Where the lines go.

    Returns
    -------
    dict
        ``frames``, ``ms`` (per-frame times), ``size``, ``sides`` (Counter), ``dropped``
        (Counter of lift reasons) and the folder's measures: ``labelled``/``found``/
        ``hands_on_empty``/``extra``/``side_correct``/``side_checked`` (labels.json);
        ``pseudo_gt``/``within``/``centre_errors_cm`` (hand_pseudo_gt); ``with_hand``.

    """
    frames = FrameFolder(folder)
    folder, camera, ids = frames.root, frames.camera, frames.ids
    labels = FolderLabels.read(folder)
    for index in range(min(warmup, len(ids))):
        frame = frames.read(index)
        detector.detect(frame.color, frame.depth, camera)
    stats = {'frames': len(ids), 'ms': [], 'size': camera.size, 'sides': Counter(),
             'dropped': Counter(), 'with_hand': 0, 'labelled': 0, 'found': 0,
             'empty_frames': 0, 'hands_on_empty': 0, 'extra': 0, 'side_correct': 0,
             'side_checked': 0, 'pseudo_gt': 0, 'within': 0, 'centre_errors_cm': []}
    detailed = hasattr(detector, 'detect_with_reasons')
    for index, frame_id in enumerate(ids):
        frame = frames.read(index)
        color, depth = frame.color, frame.depth
        start = time.perf_counter()
        if detailed:
            hands, dropped = detector.detect_with_reasons(color, depth, camera)
        else:
            hands, dropped = detector.detect(color, depth, camera), []
        stats['ms'].append(1000.0 * (time.perf_counter() - start))
        stats['dropped'].update(dropped)
        stats['sides'].update(h.side for h in hands)
        stats['with_hand'] += bool(hands)
        if frame_id in labels.boxes:
            boxes = labels.boxes[frame_id]
            if not boxes:
                stats['empty_frames'] += 1
                stats['hands_on_empty'] += len(hands)
            for labelled in boxes:
                stats['labelled'] += 1
                matched = [h for h in hands if _centre_in(h, labelled['box_xyxy'])]
                stats['found'] += bool(matched)
                if matched and labelled.get('side') in ('left', 'right'):
                    stats['side_checked'] += 1
                    stats['side_correct'] += matched[0].side == labelled['side']
            if boxes:
                stats['extra'] += sum(not any(_centre_in(h, b['box_xyxy']) for b in boxes)
                                      for h in hands)
        if frame_id in labels.pseudo_gt:
            stats['pseudo_gt'] += 1
            centre = np.asarray(trimesh.load(labels.pseudo_gt[frame_id], process=False)
                                .vertices, float).mean(axis=0)
            errors = [float(np.linalg.norm(h.centre - centre)) for h in hands]
            if errors:
                stats['centre_errors_cm'].append(100.0 * min(errors))
                stats['within'] += min(errors) <= max_centre_error
    ms = stats['ms']
    out(f'{folder.name} ({len(ids)} frames, {camera.width}x{camera.height}): '
        f'detect+lift median {statistics.median(ms):.1f} ms, mean {statistics.fmean(ms):.1f}, '
        f'max {max(ms):.1f}')
    if stats['labelled'] or stats['empty_frames']:
        out(f'  labelled hands found: {stats["found"]}/{stats["labelled"]}; hands on the '
            f'{stats["empty_frames"]} hand-free frames: {stats["hands_on_empty"]}; hands '
            f'outside the boxes: {stats["extra"]}; side right: '
            f'{stats["side_correct"]}/{stats["side_checked"]}')
    if stats['pseudo_gt']:
        errors = ', '.join(f'{e:.1f}' for e in stats['centre_errors_cm'])
        out(f'  pseudo-GT hands within {100 * max_centre_error:.0f} cm: '
            f'{stats["within"]}/{stats["pseudo_gt"]} (found on '
            f'{len(stats["centre_errors_cm"])}; centre errors cm: {errors})')
    out(f'  frames with a hand: {stats["with_hand"]}/{len(ids)}; sides: '
        f'{dict(stats["sides"])}; dropped by lifting: {dict(stats["dropped"]) or 0}')
    return stats


def view_of(cosine: float, threshold: float = VIEW_COSINE) -> str:
    """
    ``VIEWS`` entry of a ``palm_facing`` cosine: 'palm', 'edge' or 'back' (NaN: 'edge').

    Palm on above ``threshold``, back on below ``-threshold``, edge on between.

    Raises
    ------
    ValueError
        If ``threshold`` is outside [0, 1).

    """
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f'threshold must be in [0, 1), got {threshold}')
    if cosine > threshold:
        return 'palm'
    return 'back' if cosine < -threshold else 'edge'


def visible_share(meta: dict, hand: trimesh.Trimesh, camera: CameraIntrinsics) -> float:
    """
    Share of the hand's pixels the frame shows, in [0, 1].

    ``meta['visible_pixels']['hand']`` (what the generator's render showed of the hand)
    over the pixels of ``hand`` (camera frame) rendered alone with ``camera``; NaN when
    the meta has no count or the hand covers no pixel.
    """
    visible = meta.get('visible_pixels', {}).get('hand')
    if visible is None:
        return math.nan
    alone = int((render_meshes([hand], camera).index == 0).sum())
    return min(float(visible) / alone, 1.0) if alone else math.nan


def _share(found: int, total: int) -> str:
    return f'{found}/{total}' + (f' ({100.0 * found / total:.0f} %)' if total else '')


def benchmark_synthetic(folder: str | os.PathLike, detector: HandDetector, *,
                        min_in_view: float = 0.75, min_visible: float = 0.5,
                        warmup: int = 1, out: Callable[[str], None] = print) -> dict:
    """
    Run ``detector`` on every frame of a synthetic folder; print and return the numbers.

    Parameters
    ----------
    folder : path
        A folder written by ``c2f-sdf synth`` (``meta/<id>.json`` with ``joints_2d`` and
        ``hand_side``).
    detector : HandDetector
        The detector to measure.
    min_in_view : float
        Frames with at least this share of the 21 joints inside the image are also
        counted apart (a hand cut by the image border is hard for any detector).
    min_visible : float
        Frames are also split by whether at least this share of the hand is visible.
    warmup : int
        Frames run once before timing.
    out : callable
        Where the lines go.

    Returns
    -------
    dict
        ``frames``, ``found``, ``in_view`` / ``found_in_view`` (frames with at least
        ``min_in_view`` of the joints in the image, and those found), ``side_correct`` /
        ``side_unknown`` (among found hands), ``extra`` (detected hands outside the
        ground-truth box), ``sides`` (ground-truth side -> Counter of reported sides),
        ``views`` (``VIEWS`` entry -> [found, frames]), ``visible`` ('at_least' /
        'below' ``min_visible`` -> [found, frames]; frames without a visible-pixel count
        in neither), ``ms`` (per-frame times).

    Raises
    ------
    ValueError
        If ``min_in_view`` or ``min_visible`` is outside [0, 1] or the folder is not a
        synthetic one.

    """
    for name, value in (('min_in_view', min_in_view), ('min_visible', min_visible)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f'{name} must be in [0, 1], got {value}')
    frames = SynthFolder(folder)
    for index in range(min(warmup, len(frames))):
        frame, _ = frames.rgbd(index)
        detector.detect(frame.color, frame.depth, frame.camera)
    stats = {'frames': len(frames), 'found': 0, 'in_view': 0, 'found_in_view': 0,
             'side_correct': 0, 'side_unknown': 0, 'extra': 0,
             'sides': {'left': Counter(), 'right': Counter()},
             'views': {view: [0, 0] for view in VIEWS},
             'visible': {'at_least': [0, 0], 'below': [0, 0]}, 'ms': []}
    for index in range(len(frames)):
        frame, meta = frames.rgbd(index)
        joints = np.asarray(meta['joints_2d'], float)
        side = meta['hand_side']
        view = view_of(palm_facing(meta['joints_3d'], side))
        # The hand's mesh only (SynthFolder.meshes would also read the object's).
        hand = trimesh.load(frames.mesh_paths(index)[0], force='mesh', process=False)
        share = visible_share(meta, hand, frame.camera)
        visibility = None if math.isnan(share) else \
            ('at_least' if share >= min_visible else 'below')
        width, height = frame.camera.size
        box = (*joints.min(axis=0), *joints.max(axis=0))
        in_view = np.mean((joints[:, 0] >= 0) & (joints[:, 0] < width)
                          & (joints[:, 1] >= 0) & (joints[:, 1] < height)) >= min_in_view
        start = time.perf_counter()
        hands = detector.detect(frame.color, frame.depth, frame.camera)
        stats['ms'].append(1000.0 * (time.perf_counter() - start))
        matched = [h for h in hands if _centre_in(h, box)]
        stats['extra'] += len(hands) - len(matched)
        stats['in_view'] += bool(in_view)
        counts = [stats['views'][view]]
        if visibility:
            counts.append(stats['visible'][visibility])
        for count in counts:
            count[0] += bool(matched)
            count[1] += 1
        if matched:
            stats['found'] += 1
            stats['found_in_view'] += bool(in_view)
            reported = matched[0].side
            stats['sides'][side][reported] += 1
            stats['side_correct'] += reported == side
            stats['side_unknown'] += reported == 'unknown'
    ms, found = stats['ms'], stats['found']
    out(f'{frames.root.name} ({len(frames)} synthetic frames): found {found}/{len(frames)} '
        f'({100.0 * found / max(len(frames), 1):.0f} %); with >= {100 * min_in_view:.0f} % '
        f'of the joints in view {stats["found_in_view"]}/{stats["in_view"]}; hands '
        f'outside the ground-truth box: {stats["extra"]}')
    out(f'  side right on {stats["side_correct"]}/{found} found hands (unknown '
        f'{stats["side_unknown"]}); reported for left hands {dict(stats["sides"]["left"])}, '
        f'right hands {dict(stats["sides"]["right"])}; detect+lift median '
        f'{statistics.median(ms) if ms else math.nan:.1f} ms')
    views, visible = stats['views'], stats['visible']
    out('  found by view: ' + ', '.join(f'{view} on {_share(*views[view])}' for view in VIEWS)
        + f'; by visible share of the hand: >= {100 * min_visible:.0f} % '
        f'{_share(*visible["at_least"])}, below {_share(*visible["below"])}')
    return stats


def benchmark_detector(real_root: str | os.PathLike, detector: HandDetector | None = None, *,
                       folders: tuple[str, ...] | None = None,
                       detector_options: dict | None = None,
                       out: Callable[[str], None] = print) -> dict[str, dict]:
    """
    Measure a hand detector on the real frame folders under ``real_root`` and print it.

    Parameters
    ----------
    real_root : path
        Folder of frame folders (the project's ``shared/real``).
    detector : HandDetector, optional
        Default: ``make_detector('mediapipe', **detector_options)``.
    folders : tuple of str, optional
        Folder names; default: ``DEFAULT_FOLDERS`` that exist.
    detector_options : dict, optional
        Options for the default detector.
    out : callable
        Where the lines go.

    Returns
    -------
    dict
        ``benchmark_folder``'s numbers per folder name.

    Raises
    ------
    FileNotFoundError
        If ``real_root`` or a named folder does not exist.

    """
    root = pathlib.Path(real_root)
    if not root.is_dir():
        raise FileNotFoundError(f'{root} does not exist')
    if folders is None:
        folders = tuple(name for name in DEFAULT_FOLDERS if (root / name).is_dir())
    for name in folders:
        if not (root / name / 'camera.yaml').is_file():
            raise FileNotFoundError(f'{root / name} is not a frame folder')
    own = detector is None
    if own:
        detector = make_detector('mediapipe', **(detector_options or {}))
    out(f'hand detector {type(detector).__name__} '
        f'{json.dumps(detector_options or {}, sort_keys=True)}')
    try:
        results = {name: benchmark_folder(root / name, detector, out=out) for name in folders}
    finally:
        if own:
            detector.close()
    by_size: dict[tuple[int, int], list[float]] = {}
    for stats in results.values():
        by_size.setdefault(stats['size'], []).extend(stats['ms'])
    for (w, h), ms in sorted(by_size.items()):
        out(f'{w}x{h}: {len(ms)} frames, detect+lift median {statistics.median(ms):.1f} ms, '
            f'mean {statistics.fmean(ms):.1f}, p90 {float(np.percentile(ms, 90)):.1f}')
    return results


def main(argv: list[str] | None = None) -> int:
    """``c2f-sdf bench-detector [ROOT]``: detection + lifting on real frames; exit status."""
    p = argparse.ArgumentParser(prog='c2f-sdf bench-detector', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('root', nargs='?', default=str(DEFAULT_ROOT),
                   help='folder of real frame folders (default: ../shared/real)')
    p.add_argument('--folders', default='', help='comma-separated folder names (default: '
                   + ', '.join(DEFAULT_FOLDERS) + ' where present)')
    p.add_argument('--synth', action='append', default=[], metavar='DIR',
                   help='measure on this synthetic folder (c2f-sdf synth) instead of real '
                   'frames: share of hands found, side accuracy (repeatable)')
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    folders = tuple(f for f in args.folders.split(',') if f) or None
    try:
        if args.synth:
            with make_detector('mediapipe') as detector:
                for folder in args.synth:
                    benchmark_synthetic(folder, detector)
            return 0
        benchmark_detector(args.root, folders=folders)
    except (FileNotFoundError, ValueError, ImportError) as error:
        print(f'c2f-sdf bench-detector: error: {error}', file=sys.stderr)
        return 2
    return 0
