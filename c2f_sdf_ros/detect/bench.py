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

And the time of ``detect`` (detection and lifting) per frame, by image size. Frames are
read here with PIL (this layer does not import ``c2f_sdf_ros.data``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
import json
import os
import pathlib
import statistics
import time

import numpy as np
from PIL import Image

from c2f_sdf_ros.detect.hands import DetectedHand, HandDetector
from c2f_sdf_ros.geometry.camera import CameraIntrinsics, load_camera_yaml
from c2f_sdf_ros.geometry.depth import depth_mm_to_m

DEFAULT_FOLDERS = ('cerd_kitchen_pour', 'irvl_fetch_whiteboard_eraser', 'irvl_fetch_pick_plush')
_PLY_TYPES = {'char': 'i1', 'uchar': 'u1', 'short': 'i2', 'ushort': 'u2', 'int': 'i4',
              'uint': 'u4', 'float': 'f4', 'double': 'f8', 'int8': 'i1', 'uint8': 'u1',
              'int16': 'i2', 'uint16': 'u2', 'int32': 'i4', 'uint32': 'u4',
              'float32': 'f4', 'float64': 'f8'}


def read_ply_vertices(path: str | os.PathLike) -> np.ndarray:
    """
    Vertex positions (N, 3) float64 of a PLY file (ascii or binary, vertex element first).

    Raises
    ------
    ValueError
        If the file is not such a PLY (no vertex element first, list properties on it).

    """
    data = pathlib.Path(path).read_bytes()
    end = data.find(b'end_header')
    if not data.startswith(b'ply') or end < 0:
        raise ValueError(f'{path}: not a PLY file')
    header = data[:end].decode('ascii', 'replace').splitlines()
    body = data[data.index(b'\n', end) + 1:]
    fmt, count, props, element = None, 0, [], None
    for line in header:
        words = line.split()
        if not words:
            continue
        if words[0] == 'format':
            fmt = words[1]
        elif words[0] == 'element':
            element = words[1]
            if element == 'vertex' and count == 0 and not props:
                count = int(words[2])
            elif count == 0:
                raise ValueError(f'{path}: the vertex element must come first')
        elif words[0] == 'property' and element == 'vertex':
            if words[1] == 'list' or words[1] not in _PLY_TYPES:
                raise ValueError(f'{path}: unsupported vertex property {line!r}')
            props.append((words[2], _PLY_TYPES[words[1]]))
    names = [name for name, _ in props]
    if count <= 0 or not {'x', 'y', 'z'} <= set(names):
        raise ValueError(f'{path}: no vertices with x, y, z')
    if fmt == 'ascii':
        rows = body.decode('ascii').split('\n')[:count]
        table = np.array([[float(v) for v in row.split()[:len(props)]] for row in rows])
        return table[:, [names.index(c) for c in 'xyz']].astype(np.float64)
    if fmt not in ('binary_little_endian', 'binary_big_endian'):
        raise ValueError(f'{path}: unknown PLY format {fmt!r}')
    order = '<' if fmt == 'binary_little_endian' else '>'
    dtype = np.dtype([(name, order + code) for name, code in props])
    if len(body) < count * dtype.itemsize:
        raise ValueError(f'{path}: truncated vertex data')
    table = np.frombuffer(body, dtype=dtype, count=count)
    return np.stack([table[c].astype(np.float64) for c in 'xyz'], axis=1)


def read_frame(folder: pathlib.Path, frame_id: str,
               camera: CameraIntrinsics) -> tuple[np.ndarray, np.ndarray]:
    """Color (H, W, 3) uint8 and depth (H, W) float32 metres of one frame of a frame folder."""
    with Image.open(folder / 'color' / f'{frame_id}.png') as image:
        color = np.asarray(image.convert('RGB'))
    with Image.open(folder / 'depth' / f'{frame_id}.png') as image:
        depth_mm = np.asarray(image)
    if depth_mm.dtype != np.uint16:
        depth_mm = depth_mm.astype(np.uint16)  # PIL's mode I for 16-bit PNGs
    if color.shape[:2] != (camera.height, camera.width) or depth_mm.shape != color.shape[:2]:
        raise ValueError(f'{folder}/{frame_id}: image sizes do not match camera.yaml')
    return color, depth_mm_to_m(depth_mm)


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
    folder = pathlib.Path(folder)
    camera = load_camera_yaml(folder / 'camera.yaml')
    ids = sorted({p.stem for p in (folder / 'color').glob('*.png')}
                 & {p.stem for p in (folder / 'depth').glob('*.png')})
    if not ids:
        raise ValueError(f'{folder}: no frames')
    labels = None
    if (folder / 'labels.json').is_file():
        labels = json.loads((folder / 'labels.json').read_text())['frames']
    gt_dir = folder / 'hand_pseudo_gt'
    for frame_id in ids[:warmup]:
        detector.detect(*read_frame(folder, frame_id, camera), camera)
    stats = {'frames': len(ids), 'ms': [], 'size': camera.size, 'sides': Counter(),
             'dropped': Counter(), 'with_hand': 0, 'labelled': 0, 'found': 0,
             'empty_frames': 0, 'hands_on_empty': 0, 'extra': 0, 'side_correct': 0,
             'side_checked': 0, 'pseudo_gt': 0, 'within': 0, 'centre_errors_cm': []}
    detailed = hasattr(detector, 'detect_with_reasons')
    for frame_id in ids:
        color, depth = read_frame(folder, frame_id, camera)
        start = time.perf_counter()
        if detailed:
            hands, dropped = detector.detect_with_reasons(color, depth, camera)
        else:
            hands, dropped = detector.detect(color, depth, camera), []
        stats['ms'].append(1000.0 * (time.perf_counter() - start))
        stats['dropped'].update(dropped)
        stats['sides'].update(h.side for h in hands)
        stats['with_hand'] += bool(hands)
        if labels is not None and frame_id in labels:
            boxes = labels[frame_id].get('hands', [])
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
        gt_path = gt_dir / f'{frame_id}.ply'
        if gt_path.is_file():
            stats['pseudo_gt'] += 1
            centre = read_ply_vertices(gt_path).mean(axis=0)
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
        from c2f_sdf_ros.detect import make_detector

        detector = make_detector('mediapipe', **(detector_options or {}))
    out(f'hand detector {type(detector).__name__} '
        f'{json.dumps(detector_options or {}, sort_keys=True)}')
    try:
        results = {name: benchmark_folder(root / name, detector, out=out) for name in folders}
    finally:
        if own and hasattr(detector, 'close'):
            detector.close()
    by_size: dict[tuple[int, int], list[float]] = {}
    for stats in results.values():
        by_size.setdefault(stats['size'], []).extend(stats['ms'])
    for (w, h), ms in sorted(by_size.items()):
        out(f'{w}x{h}: {len(ms)} frames, detect+lift median {statistics.median(ms):.1f} ms, '
            f'mean {statistics.fmean(ms):.1f}, p90 {float(np.percentile(ms, 90)):.1f}')
    return results
