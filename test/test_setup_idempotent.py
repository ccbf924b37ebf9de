"""
scripts/setup.sh is idempotent: once up to date, running it again changes no file.

Runs the script against the virtual environment this test runs in (C2F_SDF_VENV): the
first run brings it up to date (seconds when it already is, as under scripts/test.sh,
which has just run it), the second must run no step, and leave every tracked file, the
setup's stamp files, the installed distributions and the built messages as they were.
"""

import hashlib
import os
import pathlib
import subprocess
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
VENV = pathlib.Path(sys.prefix)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.prefix == sys.base_prefix, reason='not run from a virtualenv'),
    pytest.mark.timeout(1800),     # a first run on a stale environment installs packages
]


def sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot() -> dict[str, object]:
    """What a setup run could change: contents of tracked files and stamps, install times."""
    tracked = subprocess.run(['git', 'ls-files', '-z'], cwd=REPO, check=True,
                             capture_output=True).stdout.decode().split('\0')
    files = {name: sha256(REPO / name) for name in tracked
             if name and (REPO / name).is_file()}
    stamps = {p.name: sha256(p) for p in sorted((VENV / '.c2f_sdf_setup').glob('*'))}
    # A reinstall rewrites a distribution's RECORD and the message libraries even when the
    # bytes come out the same: their modification times tell.
    installed = {str(p.relative_to(VENV)): p.stat().st_mtime_ns
                 for p in VENV.glob('lib/python*/site-packages/*.dist-info/RECORD')}
    messages = {p.name: p.stat().st_mtime_ns for p in VENV.glob('lib/libc2f_sdf_ros__*')}
    return {'files': files, 'stamps': stamps, 'installed': installed, 'messages': messages}


def run_setup() -> tuple[float, str]:
    env = dict(os.environ, C2F_SDF_VENV=str(VENV))
    start = time.monotonic()
    result = subprocess.run(['bash', str(REPO / 'scripts' / 'setup.sh')], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=1700)
    assert result.returncode == 0, result.stdout + result.stderr
    return time.monotonic() - start, result.stdout


def test_a_second_setup_run_changes_nothing():
    run_setup()
    before = snapshot()
    assert before['stamps'], 'setup.sh left no stamp files'
    assert before['messages'], 'setup.sh built no message libraries into the environment'
    seconds, output = run_setup()
    after = snapshot()
    for part in before:
        assert after[part] == before[part], part
    steps = [line for line in output.splitlines()
             if line.startswith('[setup]') and ' ready in ' not in line]
    assert steps == [], output
    print(f'an up-to-date setup took {seconds:.0f} s')     # reported, not bounded
