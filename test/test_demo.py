"""``c2f-sdf demo`` on the bundled frames: outputs, and the one-line grasp summary."""

import json

import pytest

from c2f_sdf_ros.data.bundled import BUNDLED_FRAMES
from c2f_sdf_ros.data.frame_folder import FrameFolder
from c2f_sdf_ros.reconstruct.demonstration import FORMAT
from helpers.cli import run_cli

pytestmark = [pytest.mark.ros, pytest.mark.slow]
PREFIX = 'grasp summary: '


def test_demo_reports_the_contacts_of_the_bundled_frames(tmp_path):
    # A small lattice keeps it short; the pipeline and the record are the same at 128.
    out = tmp_path / 'demo'
    result = run_cli('demo', '--out', str(out), '--resolution', '32')
    assert result.returncode == 0, result.stdout + result.stderr
    frames = FrameFolder(BUNDLED_FRAMES)
    records = [json.loads(line) for line in (out / 'frames.jsonl').read_text().splitlines()]
    assert sorted(r['frame'] for r in records) == sorted(frames.ids)
    name = {r['stamp']: r['frame'] for r in records}

    record = json.loads((out / 'demonstration.json').read_text())
    assert record['format'] == FORMAT and record['frame_count'] == len(frames)
    assert record['frame_id'] == 'camera_color_optical_frame'
    # The message's contacts are the record's: a frame with contacts has touching parts.
    touching = {f['stamp']: f['contacts'] for t in record['tracks'] for f in t['frames']}
    assert {name[s] for s, parts in touching.items() if parts} == \
        {r['frame'] for r in records if r['contacts']}
    # The acceptance: the bundled frames have contacts, and the demo reports them.
    assert any(touching.values())

    (line,) = [line for line in result.stdout.splitlines() if line.startswith('grasp')]
    assert line.startswith(PREFIX)
    items = dict(item.split(': ', 1) for item in line[len(PREFIX):].split('; '))
    assert set(items) == {f'track {t["track_id"]} ({t["side"]})' for t in record['tracks']}
    for track in record['tracks']:
        text = items[f'track {track["track_id"]} ({track["side"]})']
        grasps = [g for g in record['grasps'] if g['track_id'] == track['track_id']]
        contact = [f for f in track['frames'] if f['contacts']]
        if grasps:
            assert text.startswith(f'{len(grasps)} grasp'), text
            for grasp in grasps:
                onset_parts = '+'.join(grasp['onset_parts'])
                assert f'onset at frame {name[grasp["onset"]]} with {onset_parts}' in text
        elif contact:
            parts = sorted({p for f in contact for p in f['contacts']},
                           key=record['part_names'].index)
            assert text == (f'contact in {len(contact)} frame{"s" * (len(contact) > 1)}, '
                            f'first at frame {name[contact[0]["stamp"]]} '
                            f'({"+".join(parts)}), no grasp')
        else:
            assert text == 'no contact'
