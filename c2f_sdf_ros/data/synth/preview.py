"""
Contact sheets of synthetic frames: colour with the 2D hand skeleton, depth, label mask.

For eyeballing a generated data set: one PNG, a few frames per row, three panels a frame.
"""

from __future__ import annotations

import json
import os
import pathlib

import matplotlib

# A bare Figure renders with Agg and leaves pyplot's global backend and state alone.
from matplotlib.figure import Figure
import numpy as np
from PIL import Image

from c2f_sdf_ros.data.frame_folder import COLOR_DIR, DEPTH_DIR
from c2f_sdf_ros.data.synth.render import LABEL_HAND, LABEL_OBJECT

MASK_DIR = 'mask'
META_DIR = 'meta'

# MANO / OpenPose joint order: wrist, then four joints per finger from thumb to little.
HAND_BONES = ((0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8),
              (0, 9), (9, 10), (10, 11), (11, 12), (0, 13), (13, 14), (14, 15), (15, 16),
              (0, 17), (17, 18), (18, 19), (19, 20))
FINGER_COLORS = ('#e41a1c', '#ff7f00', '#4daf4a', '#377eb8', '#984ea3')

# Overlay colours of mask labels 1 (hand) and 2 (object).
MASK_COLORS = {LABEL_HAND: (1.0, 0.0, 0.0), LABEL_OBJECT: (0.0, 0.3, 1.0)}
MASK_ALPHA = 0.5

PANEL_INCHES = 2.4  # panel width; height follows the image aspect ratio
DPI = 100


def _read_frame(root: pathlib.Path, frame_id: str) -> tuple[np.ndarray, np.ndarray,
                                                             np.ndarray, dict]:
    paths = {
        'color': root / COLOR_DIR / f'{frame_id}.png',
        'depth': root / DEPTH_DIR / f'{frame_id}.png',
        'mask': root / MASK_DIR / f'{frame_id}.png',
        'meta': root / META_DIR / f'{frame_id}.json',
    }
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise ValueError(f'frame {frame_id} in {root} is missing {", ".join(missing)}')
    with Image.open(paths['color']) as image:
        color = np.asarray(image.convert('RGB'))
    with Image.open(paths['depth']) as image:
        depth_mm = np.asarray(image)
    with Image.open(paths['mask']) as image:
        mask = np.asarray(image)
    try:
        meta = json.loads(paths['meta'].read_text(encoding='utf-8'))
    except json.JSONDecodeError as error:
        raise ValueError(f'{paths["meta"]}: not valid JSON: {error}') from None
    if depth_mm.ndim != 2 or depth_mm.dtype.kind not in 'ui':
        raise ValueError(f'{paths["depth"]}: expected a 16-bit depth PNG, got '
                         f'{depth_mm.dtype} {depth_mm.shape}')
    if mask.ndim != 2 or depth_mm.shape != color.shape[:2] or mask.shape != color.shape[:2]:
        raise ValueError(f'frame {frame_id}: color {color.shape[:2]}, depth '
                         f'{depth_mm.shape} and mask {mask.shape} sizes differ')
    joints = np.asarray(meta.get('joints_2d', []), dtype=np.float64)
    if joints.shape != (21, 2):
        raise ValueError(f'{paths["meta"]}: joints_2d must be 21 x 2, got {joints.shape}')
    return color, depth_mm, mask, meta


def _overlay(color: np.ndarray, mask: np.ndarray) -> np.ndarray:
    image = color.astype(np.float32) / 255.0
    for label, rgb in MASK_COLORS.items():
        on = mask == label
        image[on] = (1.0 - MASK_ALPHA) * image[on] + MASK_ALPHA * np.asarray(rgb)
    return image


def contact_sheet(root: str | os.PathLike, frame_ids, out_path: str | os.PathLike,
                  columns: int = 3) -> None:
    """
    Write a PNG with three panels per frame: colour + 2D joints, depth, mask overlay.

    Parameters
    ----------
    root : path
        Frame folder with ``color/<id>.png`` (8-bit RGB), ``depth/<id>.png`` (uint16 mm),
        ``mask/<id>.png`` (uint8: 0 background, 1 hand, 2 object) and ``meta/<id>.json``
        (``joints_2d`` 21 x 2 pixels, ``hand_side``, ``grasp_type``, ``object_family``).
    frame_ids : sequence of str
        Frames to show, in order.
    out_path : path
        PNG to write (parent folders are created).
    columns : int
        Frames per row of the sheet.

    Raises
    ------
    ValueError
        If no frame is given, ``columns`` < 1, or a frame's files are missing or malformed.

    """
    root = pathlib.Path(root)
    frame_ids = [str(frame_id) for frame_id in frame_ids]
    if not frame_ids:
        raise ValueError('contact_sheet needs at least one frame id')
    if columns < 1:
        raise ValueError(f'columns must be >= 1, got {columns}')
    # Read everything first so that a bad frame fails before any drawing.
    frames = [_read_frame(root, frame_id) for frame_id in frame_ids]

    h, w = frames[0][0].shape[:2]
    n_cols = min(columns, len(frames))
    n_rows = -(-len(frames) // n_cols)
    title_inches = 0.45
    panel_h = PANEL_INCHES * h / w
    fig = Figure(figsize=(3 * n_cols * PANEL_INCHES, n_rows * (panel_h + title_inches)),
                 dpi=DPI)
    # Fixed subfigure grid (no layout engine) keeps the output identical run to run.
    subfigs = np.atleast_2d(fig.subfigures(n_rows, n_cols, squeeze=False))
    depth_cmap = matplotlib.colormaps['turbo'].with_extremes(bad='black')
    for index, (frame_id, (color, depth_mm, mask, meta)) in enumerate(
            zip(frame_ids, frames, strict=True)):
        sub = subfigs[index // n_cols, index % n_cols]
        axes = sub.subplots(1, 3)
        sub.subplots_adjust(left=0.01, right=0.99, bottom=0.01,
                            top=panel_h / (panel_h + title_inches), wspace=0.03)
        sub.suptitle(f'{frame_id}  {meta.get("hand_side", "?")} hand  '
                     f'{meta.get("grasp_type", "?")}  {meta.get("object_family", "?")}',
                     fontsize=9)

        frame_h, frame_w = color.shape[:2]
        joints = np.asarray(meta['joints_2d'], dtype=np.float64)
        axes[0].imshow(color, interpolation='nearest')
        for bone_index, (a, b) in enumerate(HAND_BONES):
            axes[0].plot(joints[[a, b], 0], joints[[a, b], 1], '-', linewidth=1.2,
                         color=FINGER_COLORS[bone_index // 4])
        axes[0].scatter(joints[:, 0], joints[:, 1], s=6, c='white', edgecolors='black',
                        linewidths=0.4, zorder=3)

        depth = np.ma.masked_equal(depth_mm.astype(np.float64), 0.0)
        valid = depth.compressed()
        lo, hi = (np.percentile(valid, [1, 99]) if valid.size else (0.0, 1.0))
        axes[1].imshow(depth, cmap=depth_cmap, vmin=lo, vmax=max(hi, lo + 1.0),
                       interpolation='nearest')

        axes[2].imshow(_overlay(color, mask), interpolation='nearest')
        for ax in axes:
            # Joints may fall outside the image; keep every panel on the image extent.
            ax.set_xlim(-0.5, frame_w - 0.5)
            ax.set_ylim(frame_h - 0.5, -0.5)
            ax.set_axis_off()
    out_path = pathlib.Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # No Software / date metadata so that identical inputs give identical bytes.
    fig.savefig(out_path, dpi=DPI, metadata={'Software': None})
