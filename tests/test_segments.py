"""lib/segments.py: which columns can be a segment, the default, and the largest groups plus Other —
on hand-made tables, a generated survey over a hundred companies (issue #18) and the real Prep Air file."""

import duckdb
import numpy as np
import pandas as pd
import pytest

from lib import segments as s
from lib.metrics import nps as m
from tests.conftest import real_file


def table(frame: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("_f", frame)
    con.execute("CREATE TABLE t AS SELECT * FROM _f")
    con.unregister("_f")
    return con


def test_which_columns_can_be_a_segment():
    n = 60
    frame = pd.DataFrame({
        "company": [f"Company {i % 40}" for i in range(n)],   # text, 40 values: a segment however many
        "plan": ["Pro", "Starter", None] * 20,                # text with blanks: (blank) is a group
        "tier": [1, 2, 3] * 20,                               # a number with 3 values: a segment
        "amount": np.arange(n) * 1.5 % 47,                    # a number with 47 values: a measure
        "response_id": [f"r{i}" for i in range(n)],           # every value different: an id
        "empty": [None] * n,                                  # blank throughout
        "note": ["  "] * n,                                   # only spaces: blank too
    })
    con = table(frame)
    cols = {c: c.title() for c in frame.columns}
    found = s.segment_columns(con, "t", cols, min_n=3)
    assert [c.column for c in found] == ["company", "plan", "tier"]
    company, plan, tier = found
    # 60 rows over 40 companies: 20 companies with 2 rows, 20 with 1 → none reaches 3 rows
    assert (company.levels, company.rows, company.readable_rows) == (40, 60, 0)
    assert (plan.levels, plan.readable_rows, plan.label) == (3, 60, "Plan")  # Pro, Starter, (blank): 20 each
    assert s.default_segment(found) is plan  # as readable as tier, first in the file
    assert s.segment_columns(con, "t", {"missing": "Missing"}) == []  # a column the table lacks is skipped
    assert s.default_segment([]) is None


def test_top_groups_add_up_and_search_reaches_small_groups():
    frame = pd.DataFrame({"company": [f"C{i:03d}" for i in range(100)], "n": list(range(100, 0, -1)),
                          "nps": np.linspace(50, -50, 100)})
    top = s.top_groups(frame, "company", ["n"], 10)
    # the ten largest: 100 … 91 answers; Other: 90 + 89 + … + 1 = 4,095 over 90 companies
    assert top["company"].tolist()[:10] == [f"C{i:03d}" for i in range(10)]
    assert top.iloc[-1]["company"] == "Other (90 groups)" and top.iloc[-1]["n"] == 4095
    assert top["n"].sum() == frame["n"].sum() == 5050
    assert pd.isna(top.iloc[-1]["nps"])  # a column that does not add up is left empty on Other
    # search finds a small company that the ten largest leave out; the others still add up in Other
    found = s.top_groups(frame, "company", ["n"], 10, search=" c099 ")
    assert found["company"].tolist() == ["C099", "Other (99 groups)"] and found["n"].sum() == 5050
    assert s.top_groups(frame, "company", ["n"], 10, search="nobody")["company"].tolist() == ["Other (100 groups)"]
    one = s.top_groups(frame.head(2), "company", ["n"], 1)
    assert one["company"].tolist() == ["C000", "Other (1 group)"]


def hundred_companies(seed: int, drop: str | None = None) -> pd.DataFrame:
    """A survey over 100 companies, 3,000-odd responses, one mix (45/30/25, NPS +20) everywhere —
    or, for `drop`, one company at 20/30/50 (NPS −30)."""
    rng = np.random.default_rng(seed)
    sizes = np.clip(rng.lognormal(np.log(22), 0.8, 100).round().astype(int), 3, 300)
    rows = []
    for i, size in enumerate(sizes):
        name = f"Company {i:03d} Ltd"
        mix = (.20, .30, .50) if name == drop else (.45, .30, .25)
        group = rng.choice(3, size=size, p=mix)
        scores = np.select([group == 0, group == 1], [10, 8], 3)
        rows += [(name, int(score), f"2026-{1 + j % 12:02d}-15") for j, score in enumerate(scores)]
    return pd.DataFrame(rows, columns=["Company", "How likely are you to recommend us? (0-10)", "Date"])


def load(ws, frame: pd.DataFrame, name: str):
    return ws.load(name, frame.to_csv(index=False).encode(), kinds=["nps_responses"])


def test_a_survey_over_a_hundred_companies(ws):
    frame = hundred_companies(3)
    dataset = load(ws, frame, "companies.csv")
    found = m.segment_columns(ws.con, dataset, 30)
    assert [(c.label, c.levels) for c in found] == [("Company", 100)]  # before: "no other column …"
    assert s.default_segment(found).label == "Company"
    seg = m.nps_by_segment(ws.con, dataset.table, "company", 30).frame
    assert len(seg) == 100 and seg["n"].sum() == len(frame)
    tested = int(seg["tested"].sum())
    assert tested == int((seg["n"] >= 30).sum()) and 10 < tested < 60  # small companies are not tested
    assert len(frame) == 3019
    top = m.top_segments(seg, 20)
    assert len(top) == 21 and top["n"].sum() == len(frame) and top.iloc[-1]["segment"] == "Other (80 groups)"
    assert top["moe"].notna().all()  # every shown group, Other too, carries its margin
    # nothing changes between companies: no segment flag (BH over the tested companies; the rate
    # over many such surveys is checked below)
    assert [f for f in m.area_flags(ws) if f.metric == "NPS by segment"] == []


def test_segment_flags_on_many_null_surveys():
    """One mix in every company: over 100 simulated surveys of 100 companies, a flag (below the rest
    beyond the noise after BH, at or below the healthy line) in a few at most, and never "high"."""
    rng = np.random.default_rng(1800)
    flagged, high = 0, 0
    for _ in range(100):
        sizes = np.clip(rng.lognormal(np.log(22), 0.8, 100).round().astype(int), 3, 300)
        counts = pd.DataFrame([rng.multinomial(k, (.45, .30, .25)) for k in sizes],
                              columns=["promoters", "passives", "detractors"])
        counts["n"] = counts.sum(axis=1)
        out = m.segment_tests(counts, 30, 0.05)
        nps = 100 * (counts["promoters"] - counts["detractors"]) / counts["n"]
        hit = out["differs"] & (out["z"] < 0) & (nps <= 0)
        flagged += bool(hit.any())
        high += int((hit & (out["severity"] == "high")).sum())
    assert flagged <= 5 and high == 0


def test_one_company_far_below_is_flagged(ws):
    frame = hundred_companies(3, drop="Company 000 Ltd")  # the same survey, one company at NPS −30
    dataset = load(ws, frame, "companies.csv")
    assert int((frame["Company"] == "Company 000 Ltd").sum()) == 113  # big enough to test
    flags = [f for f in m.area_flags(ws) if f.metric == "NPS by segment"]
    assert [f.subject for f in flags] == ["Company = Company 000 Ltd"]
    seg = m.nps_by_segment(ws.con, dataset.table, "company", 30).frame
    assert seg.loc[seg["segment"] == "Company 000 Ltd", "differs"].item()


def test_real_prep_air_segments(ws):
    data = real_file("preppin_2021w23_nps_prep_air.csv").read_bytes()
    dataset = ws.load("preppin_2021w23_nps_prep_air.csv", data, kinds=["nps_responses"])
    found = m.segment_columns(ws.con, dataset, 30)
    # Airline: one value on all 184 rows (nothing to compare); CustomerID is different on every row (an id)
    assert found == []
    seg = m.nps_by_segment(ws.con, dataset.table, "airline", 30).frame
    top = m.top_segments(seg, 20)
    # one group and no rest to compare it with: shown with its margin (±10.7, tests/test_metrics_nps.py), not tested
    assert top["segment"].tolist() == ["Prep Air"] and not top["tested"].any()
    assert top["moe"].iloc[0] == pytest.approx(10.6910, abs=1e-4)
