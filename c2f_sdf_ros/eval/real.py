"""
``c2f-sdf eval-real DIR...``: the full pipeline on real RGB-D frame folders.

Each folder is scored with whatever labels it has. Real recordings have no full ground
truth, but each label says something (see
``../shared/real/README.md`` for the folders the project develops on):

- ``labels.json`` ``{"frames": {id: {"hands": [{"side", "box_xyxy"}]}}}``: a hand is
  *found* when the projection of its mesh centre lies in a labelled box; a hand on a frame
  labelled ``hands: []`` is a false hand; the side of a found hand is right or wrong.
- ``*_mask/<id>.png`` (0/1 object masks): IoU of the object mesh's silhouette with the mask,
  and the distance from the mask's depth points to the object mesh.
- ``hand_pseudo_gt/<id>.ply``: distance between the centres of the predicted and the
  pseudo ground-truth hand meshes, and the mean surface distance between them.
- always: **depth agreement**, the median |rendered - observed| depth over the pixels
  where a predicted mesh is seen and the camera measured depth (a mesh floating in front
  of or behind the real surface shows at once), and the time per frame.

Prints a table (``--json``: one object) and writes a contact sheet of overlays.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
import json
import math
import pathlib
import statistics
import sys
import time

import numpy as np
from PIL import Image, ImageDraw
import trimesh

from c2f_sdf_ros.data.frame_folder import FrameFolder, RgbdFrame
from c2f_sdf_ros.eval import metrics
from c2f_sdf_ros.geometry.camera import CameraIntrinsics
from c2f_sdf_ros.geometry.mesh import surface_distance
from c2f_sdf_ros.geometry.render import render_meshes
from c2f_sdf_ros.reconstruct.hand_finder import FINDERS, FinderConfig
from c2f_sdf_ros.reconstruct.overlay import HAND_RGB, OBJECT_RGB, overlay_meshes
from c2f_sdf_ros.reconstruct.pipeline import Reconstruction, Reconstructor, ReconstructorConfig

LABELS_FILE = 'labels.json'
PSEUDO_GT_DIR = 'hand_pseudo_gt'
MASK_SUFFIX = '_mask'
SHEET_TILE = 320
# Depth differences beyond this are another surface seen through a gap, not an error of
# the mesh (the median would then measure the background).
DEPTH_OUTLIER = 0.25


@dataclass
class FolderLabels:
    """What a real frame folder can be scored against (each part optional)."""

    boxes: dict[str, list[dict]] = field(default_factory=dict)   # id -> [{side, box_xyxy}]
    masks: dict[str, pathlib.Path] = field(default_factory=dict)  # id -> object mask PNG
    pseudo_gt: dict[str, pathlib.Path] = field(default_factory=dict)  # id -> hand PLY

    @classmethod
    def read(cls, root: pathlib.Path) -> FolderLabels:
        """The labels found in ``root`` (ValueError on a malformed labels.json)."""
        labels = cls()
        path = root / LABELS_FILE
        if path.is_file():
            try:
                frames = json.loads(path.read_text())['frames']
                labels.boxes = {str(k): list(v['hands']) for k, v in frames.items()}
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise ValueError(f'{path}: expected {{"frames": {{id: {{"hands": [...]}}}}}}: '
                                 f'{error}') from error
        for folder in sorted(p for p in root.iterdir() if p.is_dir()
                             and p.name.endswith(MASK_SUFFIX)):
            labels.masks.update({p.stem: p for p in folder.glob('*.png')})
        if (root / PSEUDO_GT_DIR).is_dir():
            labels.pseudo_gt = {p.stem: p for p in (root / PSEUDO_GT_DIR).glob('*.ply')}
        return labels


def mesh_centre_pixel(result: Reconstruction, camera: CameraIntrinsics) -> np.ndarray:
    """Projection (u, v) of the hand mesh's vertex centroid (joints' if no mesh)."""
    points = result.hand_mesh.vertices if result.hand_mesh is not None else result.joints
    return camera.project(np.asarray(points, float).mean(0, keepdims=True))[0]


def in_box(pixel: np.ndarray, box) -> bool:
    """Whether ``pixel`` (u, v) lies in ``box`` (u0, v0, u1, v1)."""
    u0, v0, u1, v1 = (float(b) for b in box)
    return bool(u0 <= pixel[0] <= u1 and v0 <= pixel[1] <= v1)


def depth_agreement(meshes: list[trimesh.Trimesh | None], frame: RgbdFrame) -> list[float]:
    """
    Median |rendered - observed| depth (m) of each mesh where it is seen and depth exists.

    NaN for a missing mesh or one that covers no measured pixel. Differences above
    ``DEPTH_OUTLIER`` are left out (a mesh edge over a far background).
    """
    view = render_meshes(meshes, frame.camera)
    out = []
    for index in range(len(meshes)):
        both = (view.index == index) & (frame.depth > 0)
        error = np.abs(view.depth[both] - frame.depth[both])
        error = error[error < DEPTH_OUTLIER]
        out.append(float(np.median(error)) if len(error) else math.nan)
    return out


def mask_scores(mesh: trimesh.Trimesh | None, mask: np.ndarray, frame: RgbdFrame
                ) -> tuple[float, float]:
    """IoU of the mesh's silhouette with ``mask``; median distance (m) mask points -> mesh."""
    if mesh is None:
        return 0.0, math.nan
    silhouette = render_meshes([mesh], frame.camera).index == 0
    union = np.count_nonzero(silhouette | mask)
    iou = np.count_nonzero(silhouette & mask) / union if union else math.nan
    points = frame.camera.backproject(np.where(mask, frame.depth, 0.0)).reshape(-1, 3)
    points = points[points[:, 2] > 0]
    if len(points) == 0:
        return float(iou), math.nan
    return float(iou), float(np.median(surface_distance(mesh, points)))


def pseudo_gt_scores(result: Reconstruction, truth: np.ndarray) -> tuple[float, float]:
    """
    Centre distance (m) and symmetric mean surface distance (m) to a pseudo-GT hand.

    ``truth`` (N, 3) are the pseudo-GT hand's vertices (the folders ship MANO vertices,
    778 per hand, without faces); the predicted hand is sampled on its surface.
    """
    mesh = result.hand_mesh
    centre = np.asarray(mesh.vertices if mesh is not None else result.joints).mean(0)
    centre_error = float(np.linalg.norm(centre - truth.mean(0)))
    if mesh is None:
        return centre_error, math.nan
    predicted = metrics.sample_surface(mesh, 5000, 0)
    surface = 0.5 * (metrics.nearest_distances(predicted, truth).mean()
                     + metrics.nearest_distances(truth, predicted).mean())
    return centre_error, float(surface)


def score_frame(frame_id: str, frame: RgbdFrame, hands: list[Reconstruction],
                labels: FolderLabels) -> dict:
    """One frame's row: what was found and how well it agrees with the labels."""
    row = {'frame': frame_id, 'hands': len(hands),
           'sides': [h.side for h in hands]}
    meshes = [h.hand_mesh for h in hands] + [h.object_mesh for h in hands]
    agreement = depth_agreement(meshes, frame)
    row['hand_depth_m'] = agreement[:len(hands)]
    row['object_depth_m'] = agreement[len(hands):]
    if frame_id in labels.boxes:
        boxes = labels.boxes[frame_id]
        row['labelled_hands'] = len(boxes)
        row['found'] = 0
        row['side_correct'] = 0
        row['false_hands'] = len(hands) if not boxes else 0
        centres = [mesh_centre_pixel(h, frame.camera) for h in hands]
        for box in boxes:
            matched = [h for h, c in zip(hands, centres, strict=True)
                       if in_box(c, box['box_xyxy'])]
            if matched:
                row['found'] += 1
                row['side_correct'] += int(matched[0].side == box.get('side'))
    if frame_id in labels.masks and hands:
        with Image.open(labels.masks[frame_id]) as image:
            mask = np.asarray(image.convert('L')) > 0
        best = max(hands, key=lambda h: 0 if h.object_mesh is None else 1)
        row['object_iou'], row['mask_to_mesh_m'] = mask_scores(best.object_mesh, mask, frame)
    if frame_id in labels.pseudo_gt:
        row['pseudo_gt'] = True
        if hands:
            truth = np.asarray(trimesh.load(labels.pseudo_gt[frame_id], process=False).vertices,
                               float)
            if len(truth) == 0:
                raise ValueError(f'{labels.pseudo_gt[frame_id]} holds no vertices')
            scores = [pseudo_gt_scores(h, truth) for h in hands]
            row['pgt_centre_m'], row['pgt_surface_m'] = min(scores)
    return row


def _median(values) -> float:
    values = [v for v in values if v is not None and np.isfinite(v)]
    return float(statistics.median(values)) if values else math.nan


def summarise(rows: list[dict], within: float) -> dict:
    """Folder summary of the per-frame rows (``within``: pseudo-GT centre distance, m)."""
    labelled = [r for r in rows if r.get('labelled_hands')]
    empty = [r for r in rows if 'labelled_hands' in r and not r['labelled_hands']]
    pgt = [r for r in rows if r.get('pseudo_gt')]
    found = sum(r['found'] for r in labelled)
    return {
        'frames': len(rows),
        'frames_with_hands': sum(1 for r in rows if r['hands']),
        'labelled_frames': len(labelled),
        'found_on_label': found,
        'side_correct': sum(r['side_correct'] for r in labelled),
        'hand_free_frames': len(empty),
        'hands_on_hand_free_frames': sum(r['false_hands'] for r in empty),
        'pseudo_gt_frames': len(pgt),
        'pseudo_gt_found_within': sum(1 for r in pgt
                                      if r.get('pgt_centre_m', math.inf) <= within),
        'pseudo_gt_centre_m': _median(r.get('pgt_centre_m') for r in pgt),
        'pseudo_gt_surface_m': _median(r.get('pgt_surface_m') for r in pgt),
        'hand_depth_m': _median(v for r in rows for v in r['hand_depth_m']),
        'object_depth_m': _median(v for r in rows for v in r['object_depth_m']),
        'object_iou': _median(r.get('object_iou') for r in rows),
        'mask_to_mesh_m': _median(r.get('mask_to_mesh_m') for r in rows),
        'seconds_per_frame': _median(r['seconds'] for r in rows),
    }


def _fmt(value, scale: float = 1.0, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return '—'
    return f'{value * scale:.{digits}f}'


def markdown_table(summaries: dict[str, dict]) -> str:
    """One row per folder."""
    header = ['folder', 'frames', 'with hands', 'found / labelled', 'side right',
              'hands on hand-free', 'pseudo-GT within 5 cm', 'hand depth (cm)',
              'object depth (cm)', 'object IoU', 'mask→mesh (cm)', 's/frame']
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for name, s in summaries.items():
        lines.append('| ' + ' | '.join([
            name, str(s['frames']), str(s['frames_with_hands']),
            f"{s['found_on_label']}/{s['labelled_frames']}" if s['labelled_frames'] else '—',
            f"{s['side_correct']}/{s['found_on_label']}" if s['labelled_frames'] else '—',
            f"{s['hands_on_hand_free_frames']} on {s['hand_free_frames']}"
            if s['hand_free_frames'] else '—',
            f"{s['pseudo_gt_found_within']}/{s['pseudo_gt_frames']}"
            if s['pseudo_gt_frames'] else '—',
            _fmt(s['hand_depth_m'], 100, 2), _fmt(s['object_depth_m'], 100, 2),
            _fmt(s['object_iou'], 1, 2), _fmt(s['mask_to_mesh_m'], 100, 2),
            _fmt(s['seconds_per_frame'], 1, 2)]) + ' |')
    return '\n'.join(lines) + '\n'


def overlay_tile(frame: RgbdFrame, hands: list[Reconstruction], boxes: list[dict],
                 title: str) -> Image.Image:
    """The frame with its meshes, labelled boxes (green) and a title, SHEET_TILE wide."""
    meshes = [(h.hand_mesh, HAND_RGB) for h in hands] + \
        [(h.object_mesh, OBJECT_RGB) for h in hands]
    image = overlay_meshes(frame.color, frame.camera, meshes)
    draw = ImageDraw.Draw(image)
    for box in boxes:
        draw.rectangle([float(b) for b in box['box_xyxy']], outline=(0, 220, 0), width=3)
    scale = SHEET_TILE / image.width
    image = image.resize((SHEET_TILE, max(1, round(image.height * scale))))
    ImageDraw.Draw(image).text((4, 4), title, fill=(255, 255, 0))
    return image


def contact_sheet(tiles: list[Image.Image], path: pathlib.Path, columns: int = 4) -> None:
    """Tiles in a grid, one PNG."""
    if not tiles:
        return
    height = max(t.height for t in tiles)
    rows = math.ceil(len(tiles) / columns)
    sheet = Image.new('RGB', (columns * SHEET_TILE, rows * height), (0, 0, 0))
    for index, tile in enumerate(tiles):
        sheet.paste(tile, ((index % columns) * SHEET_TILE, (index // columns) * height))
    sheet.save(path)


def evaluate_folder(reconstructor: Reconstructor, root: pathlib.Path,
                    within: float = 0.05, frames: int = 0,
                    tiles: list[Image.Image] | None = None) -> tuple[dict, list[dict]]:
    """Run the pipeline on every frame of ``root``; returns (summary, per-frame rows)."""
    folder = FrameFolder(root)
    labels = FolderLabels.read(root)
    rows = []
    count = len(folder) if frames <= 0 else min(frames, len(folder))
    for index in range(count):
        frame_id = folder.ids[index]
        frame = folder.read(index)
        started = time.perf_counter()
        hands = reconstructor.reconstruct_frame(frame.color, frame.depth, frame.camera.K).hands
        seconds = time.perf_counter() - started
        row = score_frame(frame_id, frame, hands, labels)
        row['seconds'] = seconds
        rows.append(row)
        if tiles is not None:
            tiles.append(overlay_tile(frame, hands, labels.boxes.get(frame_id, []),
                                      f'{root.name}/{frame_id}'))
    return summarise(rows, within), rows


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``c2f-sdf eval-real``."""
    p = argparse.ArgumentParser(prog='c2f-sdf eval-real', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('folders', nargs='+', help='real RGB-D frame folders (camera.yaml, '
                   'color/, depth/ and optional labels)')
    p.add_argument('--weights', default='', help='weights prefix (default: shipped)')
    p.add_argument('--detector', choices=FINDERS, default='mediapipe',
                   help='hand detector (default mediapipe)')
    p.add_argument('--max-hands', type=int, default=2, help='hands per frame (default 2)')
    p.add_argument('--min-hand-score', type=float, default=FinderConfig.min_hand_score,
                   help='least detection score (default %(default)s)')
    p.add_argument('--resolution', type=int, default=128, help='lattice side (default 128)')
    p.add_argument('--frames', type=int, default=0, help='first N frames per folder (0: all)')
    p.add_argument('--within', type=float, default=0.05,
                   help='pseudo-GT hand centre distance that counts as found (m, default 0.05)')
    p.add_argument('--device', default='auto', help="'auto', 'cpu' or 'cuda[:N]'")
    p.add_argument('--threads', type=int, default=0, help='CPU threads (0: torch default)')
    p.add_argument('--out', default='', help='folder for contact_sheet.png, per_frame.jsonl '
                   'and summary.json')
    p.add_argument('--json', action='store_true', help='print one JSON object')
    return p


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    roots = [pathlib.Path(f) for f in args.folders]
    try:
        for root in roots:
            if not (root / 'camera.yaml').is_file():
                raise ValueError(f'{root} is not a frame folder (no camera.yaml)')
        config = ReconstructorConfig(resolution=args.resolution, finder=FinderConfig(
            args.detector, args.max_hands, args.min_hand_score))
        reconstructor = Reconstructor(args.weights or None, args.device, config,
                                      threads=args.threads)
    except (ValueError, FileNotFoundError) as error:
        print(f'c2f-sdf eval-real: error: {error}', file=sys.stderr)
        return 2
    out = pathlib.Path(args.out) if args.out else None
    tiles: list[Image.Image] | None = [] if out else None
    summaries, all_rows = {}, []
    for root in roots:
        try:
            summary, rows = evaluate_folder(reconstructor, root, args.within, args.frames,
                                            tiles)
        except (ValueError, FileNotFoundError) as error:
            print(f'c2f-sdf eval-real: error: {error}', file=sys.stderr)
            return 2
        summaries[root.name] = summary
        all_rows += [{'folder': root.name, **row} for row in rows]
    if out:
        out.mkdir(parents=True, exist_ok=True)
        contact_sheet(tiles, out / 'contact_sheet.png')
        with open(out / 'per_frame.jsonl', 'w') as stream:
            for row in all_rows:
                stream.write(json.dumps(_clean(row)) + '\n')
        (out / 'summary.json').write_text(json.dumps(_clean(summaries), indent=1))
    info = {'detector': reconstructor.finder.name, 'resolution': args.resolution,
            'weights': reconstructor.weights}
    if args.json:
        print(json.dumps(_clean({'info': info, 'folders': summaries})))
    else:
        print(f'detector {info["detector"]}, resolution {args.resolution}')
        print(markdown_table(summaries), end='')
    return 0
