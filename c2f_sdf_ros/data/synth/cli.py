"""``c2f-sdf synth``: generate synthetic hand-object RGB-D frames."""

from __future__ import annotations

import argparse
import os
import pathlib
import time

from c2f_sdf_ros.data.synth.generate import SPLITS, SynthConfig, generate
from c2f_sdf_ros.data.synth.render import CAMERA_PRESETS

PREVIEW_FRAMES = 6


def main(argv: list[str] | None = None) -> int:
    """Run ``c2f-sdf synth``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog='c2f-sdf synth',
        description='Render synthetic RGB-D frames of a hand grasping an object, with meshes, '
        'joints, masks and signed-distance samples (layout: docs/data-format.md).')
    parser.add_argument('--out', required=True, help='output folder (created)')
    parser.add_argument('--frames', type=int, required=True, help='number of frames')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default 0)')
    parser.add_argument('--split', choices=SPLITS, default='train',
                        help='split: frames of different splits never share a random stream')
    parser.add_argument('--start', type=int, default=0,
                        help='index of the first frame (to extend a folder)')
    parser.add_argument('--camera', default='d435_640x480',
                        choices=[*sorted(CAMERA_PRESETS), 'mixed'],
                        help='camera preset, or mixed for a random one per frame')
    parser.add_argument('--max-distractors', type=int, default=3, choices=range(4),
                        help='up to this many other objects on the table')
    parser.add_argument('--hand-model', default='procedural',
                        metavar='procedural|gltf:PATH|mano:PATH',
                        help='procedural (default); gltf:PATH: a rigged hand mesh, PATH a '
                        '.gltf / .glb file or a folder holding a right-hand one (left hands '
                        'are its mirror image); mano:PATH: a MANO model file '
                        '(MANO_RIGHT.pkl / MANO_LEFT.pkl, read without unpickling code) or '
                        'their folder')
    parser.add_argument('--workers', type=int, default=min(2, os.cpu_count() or 1),
                        help='processes (default: min(2, CPUs))')
    parser.add_argument('--preview', action='store_true',
                        help=f'also write preview.png: a contact sheet of the first '
                        f'{PREVIEW_FRAMES} frames')
    args = parser.parse_args(argv)
    if args.frames < 1 or args.start < 0 or args.seed < 0 or args.workers < 1:
        parser.error('--frames and --workers must be >= 1; --start and --seed >= 0')
    out = pathlib.Path(args.out)
    if out.exists() and not out.is_dir():
        parser.error(f'--out {out} exists and is not a folder')
    try:
        config = SynthConfig(camera=args.camera, max_distractors=args.max_distractors,
                             hand_model=args.hand_model)
    except ValueError as error:
        parser.error(str(error))
    start = time.perf_counter()

    def progress(done: int) -> None:
        elapsed = time.perf_counter() - start
        print(f'\r{done}/{args.frames} frames, {done / elapsed:.2f} frames/s', end='',
              flush=True)

    ids = generate(out, args.frames, args.seed, args.split, config, args.workers, args.start,
                   progress=progress)
    elapsed = time.perf_counter() - start
    print(f'\nwrote {len(ids)} frames to {out} in {elapsed:.1f} s '
          f'({len(ids) / elapsed:.2f} frames/s, {args.workers} workers)')
    if args.preview:
        from c2f_sdf_ros.data.synth.preview import contact_sheet
        contact_sheet(out, ids[:PREVIEW_FRAMES], out / 'preview.png')
        print(f'contact sheet: {out / "preview.png"}')
    return 0
