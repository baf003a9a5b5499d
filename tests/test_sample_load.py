""""Load sample data" reads and types each bundled file once per server (lib.sample): what every
session gets must be exactly what `Workspace.load(name, bytes, kind=…)` gives, and no session can
change what the next one gets."""

from dataclasses import asdict

import pytest

from lib import sample
from lib.datasets import Workspace
from lib.sample import SAMPLE_DIR, SAMPLE_FILES, load_samples


def _table(ws, kind):
    return ws.con.execute(f'SELECT * FROM "{kind}" ORDER BY _row').df()


@pytest.fixture()
def workspaces():
    made = []

    def make():
        made.append(Workspace())
        return made[-1]

    yield make
    for ws in made:
        ws.close()


def test_every_sample_file_loads_as_workspace_load_would_for_the_first_and_a_later_session(workspaces):
    sample._TYPED.clear()
    sample._READ.clear()
    plain, first, later = workspaces(), workspaces(), workspaces()
    for kind, name in SAMPLE_FILES.items():
        plain.load(name, (SAMPLE_DIR / name).read_bytes(), kind=kind)
    assert load_samples(first) == list(SAMPLE_FILES)
    typed = len(sample._TYPED)
    assert typed == len([d for d in plain.datasets.values() if d.table])  # one typing per ready file
    load_samples(later)
    assert len(sample._TYPED) == typed  # the later session typed nothing again
    for ws in (first, later):
        assert list(ws.datasets) == list(plain.datasets)
        for kind, expected in plain.datasets.items():
            assert asdict(ws.datasets[kind]) == asdict(expected), kind
            if expected.table:
                got, want = _table(ws, kind), _table(plain, kind)
                assert list(got.dtypes) == list(want.dtypes), kind
                assert got.equals(want), kind
            assert ws._sources[kind] == plain._sources[kind]


def test_a_session_changing_its_dataset_does_not_reach_the_next_one(workspaces):
    first, later = workspaces(), workspaces()
    load_samples(first, ["nps_responses"])
    dataset = first.datasets["nps_responses"]
    assert dataset.bad_values and dataset.extra_columns  # the sample NPS file has unreadable cells and extra columns
    before = asdict(dataset)
    dataset.notes.append("changed")
    dataset.extra_columns["x"] = "y"
    for bad in dataset.bad_values.values():
        bad.rows.append(-1)
    first.con.execute('DELETE FROM "nps_responses"')
    load_samples(later, ["nps_responses"])
    assert asdict(later.datasets["nps_responses"]) == before
    assert later.con.execute('SELECT count(*) FROM "nps_responses"').fetchone()[0] == before["rows_read"]
