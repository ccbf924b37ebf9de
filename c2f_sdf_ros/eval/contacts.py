"""
``c2f-sdf bench-contacts``: per-part contacts of the pipeline against synthetic truth.

Every frame goes through the node's ``Reconstructor`` (by default from the ground-truth
hand root, as the papers' protocol; ``--finder skin_depth`` finds the hand itself), and
its ``contacts`` say which hand parts touch the object. The truth per part is the
generator's record (``meta/<id>.json`` ``finger_gaps_mm``: the smallest distance from that
part's skin to the object's analytic surface) at most ``--truth-distance``; folders
without that record use the ground-truth meshes (``find_contacts`` on them, parts from
the ground-truth joints). Printed per part: ground-truth positives, true and false
positives, precision, recall, and the precision of the trivial rule "every part touches"
(the share of positives) to compare with. ``--sweep`` scores other ``contact_cells`` values
from the same reconstructions (the per-part gaps every ``Contacts`` carries).

``--part-joints truth`` is a diagnostic: the reconstructed surfaces are split into hand
parts by the ground-truth joints instead of the model's, which tells a labelling error
(joints in the wrong place) from a surface error (the right part, at the wrong distance).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import numpy as np

from c2f_sdf_ros.data.synth_folder import SynthFolder
from c2f_sdf_ros.eval import report
from c2f_sdf_ros.reconstruct.contacts import PART_NAMES, find_contacts, lattice_cell
from c2f_sdf_ros.reconstruct.hand_finder import FinderConfig
from c2f_sdf_ros.reconstruct.pipeline import Reconstructor, ReconstructorConfig

FINDERS = ('gt_root', 'skin_depth')
PART_JOINTS = ('model', 'truth')
# The generator's own contact distance (data/synth/grasp.py CONTACT_DISTANCE).
TRUTH_DISTANCE = 0.003


def truth_parts(folder: SynthFolder, index: int,
                distance: float = TRUTH_DISTANCE) -> np.ndarray:
    """
    (6,) bool: which parts (``PART_*`` order) of frame ``index`` touch the object.

    From the generator's recorded per-part gaps when the meta has them, else from the
    ground-truth meshes (parts by the ground-truth joints).
    """
    meta = folder.meta(index)
    gaps_mm = meta.get('finger_gaps_mm')
    if gaps_mm is not None:
        return np.array([gaps_mm[name] / 1000.0 <= distance for name in PART_NAMES])
    hand, obj = folder.meshes(index)
    joints = np.asarray(meta['joints_3d'], float)
    return find_contacts(hand, obj, joints, distance).gaps <= distance


def part_scores(truth: np.ndarray, predicted: np.ndarray) -> list[dict]:
    """
    Per-part counts, precision and recall of ``predicted`` against ``truth``.

    Both are (frames, parts) bool arrays. Precision is NaN where nothing was predicted,
    recall NaN where nothing was true.
    """
    truth = np.asarray(truth, bool)
    predicted = np.asarray(predicted, bool)
    if truth.shape != predicted.shape or truth.ndim != 2:
        raise ValueError(f'truth and predicted must be equal (frames, parts) arrays, got '
                         f'{truth.shape} and {predicted.shape}')
    rows = []
    for part in range(truth.shape[1]):
        t, p = truth[:, part], predicted[:, part]
        tp, fp, fn = int((t & p).sum()), int((~t & p).sum()), int((t & ~p).sum())
        rows.append({'positives': int(t.sum()), 'tp': tp, 'fp': fp, 'fn': fn,
                     'precision': tp / (tp + fp) if tp + fp else float('nan'),
                     'recall': tp / (tp + fn) if tp + fn else float('nan'),
                     'base_rate': float(t.mean()) if len(t) else float('nan')})
    return rows


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``c2f-sdf bench-contacts``."""
    shared = report.synthetic_run_arguments(
        'synthetic folder with ground truth (default: bundled sample)')
    p = argparse.ArgumentParser(prog='c2f-sdf bench-contacts', description=__doc__,
                                parents=[shared],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--finder', choices=FINDERS, default='gt_root',
                   help='gt_root: crop at the true hand root; skin_depth: find the hand')
    p.add_argument('--contact-cells', type=float,
                   default=ReconstructorConfig.contact_cells,
                   help='reconstruction tolerance in lattice cells (default: the node setting)')
    p.add_argument('--truth-distance', type=float, default=TRUTH_DISTANCE,
                   help='a part touches in the ground truth within this distance (m)')
    p.add_argument('--sweep', default='0,1,2,3,4,5,6',
                   help='comma-separated contact_cells values to score as well ("" : none)')
    p.add_argument('--part-joints', choices=PART_JOINTS, default='model',
                   help="joints that split the hand surface into parts: 'model' (the "
                        "pipeline's, default) or 'truth' (diagnostic: the ground truth's)")
    p.add_argument('--json', action='store_true', help='print one JSON object')
    return p


def run(args: argparse.Namespace) -> dict:
    """The benchmark; returns the summary dict."""
    if args.truth_distance < 0:
        raise ValueError(f'--truth-distance must be >= 0, got {args.truth_distance}')
    sweep = [float(c) for c in args.sweep.split(',') if c.strip()]
    folder = SynthFolder(args.data)
    count = len(folder) if args.frames <= 0 else min(args.frames, len(folder))
    config = ReconstructorConfig(resolution=args.resolution, contact_cells=args.contact_cells)
    if args.finder == 'skin_depth':
        config = dataclasses.replace(config, finder=FinderConfig('skin_depth', max_hands=1))
    reconstructor = Reconstructor(args.weights or None, args.device, config,
                                  threads=args.threads)
    cell = lattice_cell(args.resolution, reconstructor.crop.norm_scale)
    truth, predicted, gaps, frames = [], [], [], []
    for index in range(count):
        frame = folder.read(index)
        if args.finder == 'gt_root':
            result = reconstructor.reconstruct(frame.color, frame.depth, frame.camera.K,
                                               root=frame.root, side=frame.side)
        else:
            hands = reconstructor.reconstruct_frame(frame.color, frame.depth,
                                                    frame.camera.K).hands
            result = hands[0] if hands else None
        touching = np.zeros(len(PART_NAMES), bool)
        part_gaps = np.full(len(PART_NAMES), np.inf)
        if result is not None and result.found:
            contacts = result.contacts
            if (args.part_joints == 'truth' and result.hand_mesh is not None
                    and result.object_mesh is not None):
                contacts = find_contacts(result.hand_mesh, result.object_mesh, frame.joints,
                                         config.contact_distance,
                                         config.contact_tolerance(cell))
            touching[list(contacts.touching)] = True
            part_gaps = contacts.gaps
        truth.append(truth_parts(folder, index, args.truth_distance))
        predicted.append(touching)
        gaps.append(part_gaps)
        frames.append({'frame': frame.frame_id, 'truth': [PART_NAMES[p] for p in
                                                         np.flatnonzero(truth[-1])],
                       'predicted': [PART_NAMES[p] for p in np.flatnonzero(touching)],
                       'gaps_mm': [round(1000 * g, 1) if np.isfinite(g) else None
                                   for g in part_gaps]})
    truth, predicted, gaps = np.array(truth), np.array(predicted), np.array(gaps)
    summary = {
        'frames': count, 'finder': args.finder, 'resolution': args.resolution,
        'cell_mm': 1000 * cell, 'contact_distance_mm': 1000 * config.contact_distance,
        'contact_cells': args.contact_cells, 'part_joints': args.part_joints,
        'threshold_mm': 1000 * (config.contact_distance + args.contact_cells * cell),
        'truth_distance_mm': 1000 * args.truth_distance, 'device': str(reconstructor.device),
        'weights': reconstructor.weights,
        'parts': dict(zip(PART_NAMES, part_scores(truth, predicted), strict=True)),
        'sweep': {}, 'per_frame': frames,
    }
    for cells in sweep:
        threshold = config.contact_distance + cells * cell
        summary['sweep'][f'{cells:g}'] = {
            'threshold_mm': 1000 * threshold,
            'parts': dict(zip(PART_NAMES, part_scores(truth, gaps <= threshold),
                              strict=True))}
    return summary


def _pct(value: float) -> str:
    return '-' if not np.isfinite(value) else f'{value:.2f}'


def format_table(summary: dict) -> str:
    """Markdown tables of the summary."""
    lines = [f'{summary["frames"]} frames, finder {summary["finder"]}, lattice '
             f'{summary["resolution"]}^3 (cell {summary["cell_mm"]:.2f} mm), contact '
             f'{summary["contact_distance_mm"]:.1f} mm + {summary["contact_cells"]:g} cells = '
             f'{summary["threshold_mm"]:.1f} mm; truth: part within '
             f'{summary["truth_distance_mm"]:.1f} mm; parts split by the '
             f'{summary["part_joints"]} joints', '',
             '| part | truth positives | TP | FP | FN | precision | recall | '
             '"all touch" precision |', '|---|---|---|---|---|---|---|---|']
    for name, row in summary['parts'].items():
        lines.append(f'| {name} | {row["positives"]} | {row["tp"]} | {row["fp"]} | '
                     f'{row["fn"]} | {_pct(row["precision"])} | {_pct(row["recall"])} | '
                     f'{_pct(row["base_rate"])} |')
    if summary['sweep']:
        lines += ['', 'precision / recall per contact_cells (same reconstructions):', '',
                  '| cells | threshold mm | ' + ' | '.join(PART_NAMES) + ' |',
                  '|---' * (len(PART_NAMES) + 2) + '|']
        for cells, entry in summary['sweep'].items():
            lines.append(f'| {cells} | {entry["threshold_mm"]:.1f} | ' + ' | '.join(
                f'{_pct(r["precision"])} / {_pct(r["recall"])}'
                for r in entry['parts'].values()) + ' |')
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return report.print_summary('c2f-sdf bench-contacts', args, run, format_table)
