"""``c2f-sdf eval``: score trained weights on a dataset under both protocols."""

from __future__ import annotations

import argparse
from dataclasses import asdict
import json
import math
import os
import pathlib
import sys
import time

from PIL import Image
import torch
from tqdm import tqdm

from c2f_sdf_ros.data.sources import DATASETS, SourceOptions, open_source
from c2f_sdf_ros.eval import report
from c2f_sdf_ros.eval.evaluate import (
    PROTOCOLS,
    EvalConfig,
    evaluate_frame,
    load_truth,
    protocol_reconstructors,
    score,
    summarise,
    truth_field,
)
from c2f_sdf_ros.model.inputs import CropConfig, crop_box, resample_crop
from c2f_sdf_ros.reconstruct.pipeline import Reconstructor, ReconstructorConfig

GALLERY_SIZE = 192
# The row of the ground-truth fields meshed like the model's: the protocol's ceiling.
CEILING = 'ground-truth field (ceiling)'


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``c2f-sdf eval``."""
    p = argparse.ArgumentParser(prog='c2f-sdf eval', description=__doc__)
    p.add_argument('--weights', action='append', required=True,
                   help='model path (PATH.safetensors + PATH.json); repeat to compare models')
    p.add_argument('--dataset', choices=DATASETS, default='synth',
                   help='synth (default), dexycb or obman')
    p.add_argument('--data', '--root', dest='data', required=True,
                   help='test folder (c2f-sdf synth --split test) or the dataset root')
    p.add_argument('--split', default='test', help='split of dexycb / obman (default test)')
    p.add_argument('--mano-dir', default='',
                   help='folder with MANO_RIGHT.pkl (dexycb, obman ground-truth hands)')
    p.add_argument('--shapenet-root', default='', help='ShapeNetCore.v2 folder (obman)')
    p.add_argument('--cache-dir', default='', help='cache of per-frame SDF samples')
    p.add_argument('--frame-ids', default='',
                   help="obman: JSON list of the evaluation frame ids (e.g. gSDF's lists)")
    p.add_argument('--frames', type=int, default=100,
                   help='evaluate the first N frames (default 100; 0: all)')
    p.add_argument('--no-ceiling', action='store_true',
                   help='skip the ground-truth-field row (the protocol ceiling)')
    p.add_argument('--protocol', choices=['both', *PROTOCOLS], default='both')
    p.add_argument('--resolution', type=int, default=128, help='lattice side (default 128)')
    p.add_argument('--seed', type=int, default=0, help='sampling seed (default 0)')
    p.add_argument('--device', default='auto', help="'auto', 'cpu' or 'cuda[:N]'")
    p.add_argument('--threads', type=int, default=0, help='CPU threads (0: all cores)')
    p.add_argument('--out', help='write metrics.md, metrics.json, per_frame.jsonl and plots')
    p.add_argument('--gallery', type=int, default=4, help='frames in the gallery (with --out)')
    p.add_argument('--json', action='store_true', help='print one JSON object of the metrics')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    return p


def model_labels(paths: list[str], variants: list[str]) -> list[str]:
    """
    One distinct table label per weights path (rows of equal labels would be merged).

    Its variant, with as much of its path as tells it from the others: ``full``;
    ``full (last)``, ``full (best)``; ``full (r2/last)``, ``full (r3/last)``; the whole
    path, or a position, when nothing shorter does.

    Raises
    ------
    ValueError
        If ``paths`` and ``variants`` differ in length.

    """
    if len(paths) != len(variants):
        raise ValueError(f'{len(paths)} paths but {len(variants)} variants')
    candidates = [
        list(variants),
        [f'{v} ({pathlib.Path(p).stem})' for p, v in zip(paths, variants, strict=True)],
        [f'{v} ({pathlib.Path(p).parent.name}/{pathlib.Path(p).stem})'
         for p, v in zip(paths, variants, strict=True)],
        [f'{v} ({p})' for p, v in zip(paths, variants, strict=True)],
    ]
    for labels in candidates:
        if len(set(labels)) == len(labels):
            return labels
    return [f'{label} #{i + 1}' for i, label in enumerate(candidates[-1])]


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.frames < 0 or args.resolution < 8 or args.gallery < 0:
        print('c2f-sdf eval: error: --frames and --gallery must be >= 0, --resolution >= 8',
              file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    config = EvalConfig(resolution=args.resolution, seed=args.seed)
    protocols = PROTOCOLS if args.protocol == 'both' else (args.protocol,)
    try:
        folder = open_source(args.dataset, args.data, args.split, SourceOptions(
            args.mano_dir, args.shapenet_root, args.cache_dir, args.frame_ids), args.seed)
        # The node's pipeline for each model; each protocol runs it (see evaluate).
        pipelines = []
        for path in args.weights:
            reconstructor = Reconstructor(path, args.device, ReconstructorConfig(
                resolution=args.resolution))
            every = protocol_reconstructors(reconstructor, config)
            pipelines.append({p: every[p] for p in protocols})
    except (ValueError, FileNotFoundError) as error:
        print(f'c2f-sdf eval: error: {error}', file=sys.stderr)
        return 2
    count = len(folder) if args.frames == 0 else min(args.frames, len(folder))
    labels = model_labels(args.weights, [p[protocols[0]].model.config.variant for p in pipelines])
    out = pathlib.Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)

    per_frame = {label: {p: [] for p in protocols} for label in labels}
    ceiling = 'paper' in protocols and not args.no_ceiling
    if ceiling:
        per_frame[CEILING] = {'paper': []}
    norm_scale = pipelines[0][protocols[0]].crop.norm_scale
    gallery_rows = []
    started = time.perf_counter()
    bar = tqdm(total=count * len(pipelines), unit='frame', disable=args.quiet,
               file=sys.stderr)
    # Rows go out as each frame is scored: a long evaluation stopped early keeps its frames.
    rows_out = open(out / 'per_frame.jsonl', 'w') if out else None

    def keep(label: str, protocol: str, row: dict) -> None:
        per_frame[label][protocol].append(row)
        if rows_out:
            rows_out.write(json.dumps({'model': label, 'protocol': protocol, **row}) + '\n')
            rows_out.flush()

    for index in range(count):
        frame = folder.read(index)
        truth = load_truth(folder, index, config)
        row = []
        if out and index < args.gallery:
            view = crop_box(frame.camera, frame.root, CropConfig(image_size=GALLERY_SIZE))
            row = [resample_crop(frame.color, view, GALLERY_SIZE, Image.Resampling.BILINEAR),
                   report.render_meshes([(truth.hand, report.HAND_COLOR),
                                         (truth.object, report.OBJECT_COLOR)], view.camera)]
        for label, pipeline in zip(labels, pipelines, strict=True):
            results, predictions = evaluate_frame(pipeline, frame, truth, index, config)
            for protocol, metrics in results.items():
                keep(label, protocol, {'frame': frame.frame_id, **metrics})
            if row:
                row += [report.render_meshes(
                    [(predictions[p].hand_mesh, report.HAND_COLOR),
                     (predictions[p].object_mesh, report.OBJECT_COLOR)], view.camera)
                    for p in protocols]
            bar.update(1)
        if ceiling:
            best = truth_field(frame, truth, norm_scale, config)
            metrics_row = score(best, truth, frame.root, align=True, config=config)
            keep(CEILING, 'paper', {'frame': frame.frame_id, **metrics_row})
        if row:
            gallery_rows.append(row)
    bar.close()
    if rows_out:
        rows_out.close()
    summaries = {label: {p: summarise(rows) for p, rows in protocols_rows.items()}
                 for label, protocols_rows in per_frame.items()}
    table = report.markdown_table(summaries)
    info = {'data': str(folder.root), 'frames': count, 'eval': asdict(config),
            'weights': dict(zip(labels, args.weights, strict=True)),
            'seconds': round(time.perf_counter() - started, 1)}
    if out:
        (out / 'metrics.md').write_text(table)
        (out / 'metrics.json').write_text(json.dumps({'info': info, 'results': summaries},
                                                     indent=1, allow_nan=True))
        report.plot_distributions(per_frame, out / 'distributions.png')
        if gallery_rows:
            titles = ['colour', 'ground truth'] + [f'{label}\n{p}' for label in labels
                                                   for p in protocols]
            report.gallery(gallery_rows, titles, out / 'gallery.png')
    if args.json:
        clean = {label: {p: {k: (None if isinstance(v, float) and math.isnan(v) else v)
                             for k, v in s.items()} for p, s in protocols_s.items()}
                 for label, protocols_s in summaries.items()}
        if len(labels) == 1:
            single = dict(clean[labels[0]])
            if CEILING in clean:
                single['ceiling'] = clean[CEILING]['paper']
            clean = single
        print(json.dumps(clean))
    else:
        print(table, end='')
    return 0
