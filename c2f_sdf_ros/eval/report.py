"""
Evaluation output: the Markdown table, metric distributions and a mesh gallery.

Also the start and the end the benchmark commands share: their common arguments and their
JSON-or-table summary.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import matplotlib
import numpy as np
import trimesh

from c2f_sdf_ros.data.bundled import BUNDLED_FRAMES
from c2f_sdf_ros.geometry import render
from c2f_sdf_ros.geometry.camera import CameraIntrinsics

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

# Column -> (header, format); Chamfer in cm^2, penetration cm, intersection cm^3.
TABLE_COLUMNS = {
    'cd_h': ('CD_h (cm²) ↓', '{:.3f}'), 'f_h@1': ('F_h@1mm ↑', '{:.3f}'),
    'f_h@5': ('F_h@5mm ↑', '{:.3f}'), 'cd_o': ('CD_o (cm²) ↓', '{:.3f}'),
    'f_o@5': ('F_o@5mm ↑', '{:.3f}'), 'f_o@10': ('F_o@10mm ↑', '{:.3f}'),
    'penetration_cm': ('Pen. (cm)', '{:.2f}'), 'intersection_cm3': ('Int. (cm³)', '{:.2f}'),
    'contact': ('Contact', '{:.2f}'), 'root_error_mm': ('Root err. (mm)', '{:.1f}'),
}
HAND_COLOR = (0.85, 0.45, 0.35)
OBJECT_COLOR = (0.30, 0.50, 0.85)


def _cell(value, fmt: str) -> str:
    return '—' if value is None or (isinstance(value, float) and math.isnan(value)) \
        else fmt.format(value)


def markdown_table(results: dict[str, dict[str, dict]]) -> str:
    """
    One row per (model, protocol).

    ``results[model][protocol]`` is a summary from ``evaluate.summarise``.
    """
    header = ['Model', 'Protocol', 'Frames'] + [h for h, _ in TABLE_COLUMNS.values()] + \
        ['No mesh (h/o)']
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for model, protocols in results.items():
        for protocol, summary in protocols.items():
            cells = [model, protocol, str(summary['frames'])]
            cells += [_cell(summary.get(key), fmt) for key, (_, fmt) in TABLE_COLUMNS.items()]
            cells.append(f'{summary["missing_hand"]}/{summary["missing_object"]}')
            lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def plot_distributions(per_frame: dict[str, dict[str, list[dict]]], path) -> None:
    """Box plots of per-frame metrics, one box per (model, protocol)."""
    keys = ['cd_h', 'f_h@5', 'cd_o', 'f_o@10']
    labels, columns = [], {key: [] for key in keys}
    for model, protocols in per_frame.items():
        for protocol, rows in protocols.items():
            labels.append(f'{model}\n{protocol}')
            for key in keys:
                values = np.array([row[key] for row in rows], float)
                columns[key].append(values[np.isfinite(values)])
    figure, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 4.5))
    for axis, key in zip(axes, keys, strict=True):
        axis.boxplot(columns[key], showfliers=True)
        axis.set_xticks(range(1, len(labels) + 1), labels, rotation=90, fontsize=7)
        axis.set_title(TABLE_COLUMNS[key][0])
        if key.startswith('cd') and any(len(c) and c.max() > 0 for c in columns[key]):
            axis.set_yscale('log')
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def render_meshes(meshes: list[tuple[trimesh.Trimesh | None, tuple]],
                  camera: CameraIntrinsics, background=(1.0, 1.0, 1.0)) -> np.ndarray:
    """
    Shade ``(mesh, rgb)`` pairs (camera optical frame, rgb in [0, 1]) as seen by ``camera``.

    Headless ray casting (``geometry.render``); returns (H, W, 3) uint8. Missing meshes
    are skipped.
    """
    view = render.render_meshes([mesh for mesh, _ in meshes], camera)
    fill = np.ones((camera.height, camera.width, 3)) * np.asarray(background, float)
    image, _ = render.shaded_image(view, [color for _, color in meshes], fill)
    return (image * 255).astype(np.uint8)


def gallery(rows: list[list[np.ndarray]], titles: list[str], path) -> None:
    """Save a grid of equally sized images; ``titles`` label the columns."""
    figure, axes = plt.subplots(len(rows), len(titles), squeeze=False,
                                figsize=(2.4 * len(titles), 2.4 * len(rows)))
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            axes[r, c].imshow(image)
            axes[r, c].axis('off')
            if r == 0:
                axes[r, c].set_title(titles[c], fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def synthetic_run_arguments(data_help: str) -> argparse.ArgumentParser:
    """
    The arguments of a benchmark over synthetic frames, as a parent parser (``parents=``).

    ``c2f-sdf bench`` and ``bench-contacts`` both run the node's ``Reconstructor`` over the
    first ``--frames`` of a synthetic folder with ground truth (``--data``: ``data_help``),
    with the weights, device, threads and lattice side the node takes.
    """
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument('--data', default=str(BUNDLED_FRAMES), help=data_help)
    p.add_argument('--frames', type=int, default=0, help='use the first N frames (0: all)')
    p.add_argument('--weights', default='', help='weights prefix (default: shipped)')
    p.add_argument('--device', default='auto', help="'auto', 'cpu' or 'cuda:N'")
    p.add_argument('--threads', type=int, default=0, help='CPU threads (0: torch default)')
    p.add_argument('--resolution', type=int, default=128, help='lattice side (default 128)')
    return p


def print_summary(prog: str, args, run, format_table) -> int:
    """
    The end of a benchmark command: ``run(args)``, then its JSON or its table.

    Returns the exit status: 2 with one ``prog: error: ...`` line when ``run`` raises
    OSError or ValueError, else 0. ``args.json`` chooses the output.
    """
    try:
        summary = run(args)
    except (OSError, ValueError) as error:
        print(f'{prog}: error: {error}', file=sys.stderr)
        return 2
    print(json.dumps(summary) if args.json else format_table(summary))
    return 0
