"""Running ``c2f-sdf`` subcommands in a subprocess, and a tiny model for CLI tests."""

import subprocess
import sys

# A model small enough to train a few steps in a test.
TINY = dict(image_size=64, base_channels=8, feature_channels=16, global_channels=16,
            decoder_width=32, decoder_layers=3, num_points=64, neighbours=4, heatmap_size=8,
            center_bins=8)


def run_cli(*args, env=None, timeout=300):
    """``python -m c2f_sdf_ros.cli ARGS``, output captured as text."""
    return subprocess.run([sys.executable, '-m', 'c2f_sdf_ros.cli', *args], capture_output=True,
                          text=True, timeout=timeout, env=env)
