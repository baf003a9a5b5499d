"""lib/metrics/nps.py against hand-worked numbers, properties, the real export and nasty files."""

import math

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib.errors import BoundaryError
from lib.metrics import nps as m
from tests.conftest import real_file

Z = 1.959963984540054


def load(ws, frame: pd.DataFrame, name: str = "responses.csv", kind: str = "nps_responses"):
    return ws.load(name, frame.to_csv(index=False).encode(), kind=kind)


_CON = duckdb.connect()


def scores_table(scores) -> tuple[duckdb.DuckDBPyConnection, str]:
    """A bare table with a score column (NULL = blank/unreadable), as the Workspace stores it."""
    frame = pd.DataFrame({"_row": range(2, len(scores) + 2), "score": pd.array(scores, dtype="Int64")})
    _CON.register("_scores", frame)
    _CON.execute("CREATE OR REPLACE TABLE t AS SELECT _row::BIGINT AS _row, score::BIGINT AS score FROM _scores")
    _CON.unregister("_scores")
    return _CON, "t"


# ------------------------------------------------------------------ formulas by hand

@pytest.mark.parametrize("p,pa,d,nps,moe", [
    # 5/2/3: (5−3)/10 = 20; var = 0.5+0.3−0.2² = 0.76; √0.076 = 0.275681; ×195.9964 = 54.0325
    (5, 2, 3, 20.0, 54.0325),
    # all promoters: 100; var = 1 − 1² = 0 → the formula's ±0
    (10, 0, 0, 100.0, 0.0),
    # all detractors: −100; var = 1 − (−1)² = 0
    (0, 0, 4, -100.0, 0.0),
    # all passives: 0; var = 0 − 0 = 0
    (0, 7, 0, 0.0, 0.0),
    # one promoter, one detractor: 0; var = 1 − 0 = 1; 195.9964·√(1/2) = 138.5904
    (1, 0, 1, 0.0, 138.5904),
    # 3/1/0: 75; var = 0.75 − 0.5625 = 0.1875; √0.046875 = 0.216506; ×195.9964 = 42.4345
    (3, 1, 0, 75.0, 42.4345),
])
def test_nps_and_margin_by_hand(p, pa, d, nps, moe):
    assert m.nps_from_counts(p, pa, d) == pytest.approx(nps)
    assert m.nps_margin_of_error(p, pa, d) == pytest.approx(moe, abs=1e-4)


def test_one_response_has_an_nps_but_no_margin_and_none_has_neither():
    assert m.nps_from_counts(1, 0, 0) == 100.0
    assert math.isnan(m.nps_margin_of_error(1, 0, 0))
    assert math.isnan(m.nps_from_counts(0, 0, 0)) and math.isnan(m.nps_margin_of_error(0, 0, 0))


@pytest.mark.parametrize("score,cat", [(0, "Detractor"), (6, "Detractor"), (7, "Passive"), (8, "Passive"),
                                       (9, "Promoter"), (10, "Promoter")])
def test_category_edges(score, cat):
    assert m.category(score) == cat


def test_category_refuses_out_of_range():
    with pytest.raises(ValueError):
        m.category(11)


def test_pasted_scores():
    manual = m.parse_pasted_scores("10\n9\t8;7, 6 0 ten 6.5 11 -1 NaN")
    # promoters 10, 9; passives 8, 7; detractors 6, 0 → NPS (2−2)/6 = 0
    assert (manual.promoters, manual.passives, manual.detractors) == (2, 2, 2)
    assert manual.invalid == {"text": 1, "decimal": 2, "outside 0–10": 2}  # NaN reads as a non-number
    assert manual.nps == 0.0 and manual.examples[:2] == ["ten", "6.5"]
    assert m.parse_pasted_scores("").n == 0


# ------------------------------------------------------------------ properties

score_lists = st.lists(st.one_of(st.integers(-2, 12), st.none()), max_size=60)


@given(score_lists)
@settings(max_examples=40, deadline=None)
def test_sql_matches_python_and_nps_in_range(scores):
    con, table = scores_table(scores)
    result = m.nps_summary(con, table)
    row = result.frame.iloc[0]
    valid = [s for s in scores if s is not None and 0 <= s <= 10]
    p = sum(s >= 9 for s in valid)
    d = sum(s <= 6 for s in valid)
    assert row.n == len(valid)
    if valid:
        assert -100 <= row.nps <= 100
        assert row.nps == pytest.approx(m.nps_from_counts(p, len(valid) - p - d, d))
    else:
        assert math.isnan(row.nps)
    expected = m.nps_margin_of_error(p, len(valid) - p - d, d)
    assert (math.isnan(row.moe) and math.isnan(expected)) or row.moe == pytest.approx(expected, abs=1e-9)
    left_out = len(scores) - len(valid)
    assert sum(result.excluded.values()) == left_out


@given(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50), st.integers(2, 20))
@settings(max_examples=100, deadline=None)
def test_margin_shrinks_as_n_grows_for_fixed_shares(p, pa, d, k):
    n = p + pa + d
    if n < 2:
        return
    small, large = m.nps_margin_of_error(p, pa, d), m.nps_margin_of_error(k * p, k * pa, k * d)
    assert m.nps_from_counts(k * p, k * pa, k * d) == pytest.approx(m.nps_from_counts(p, pa, d))
    assert large == pytest.approx(small / math.sqrt(k))  # k times the responses: margin / √k
    assert large <= small


# ------------------------------------------------------------------ invalid scores

def test_invalid_scores_are_counted_and_left_out(ws):
    frame = pd.DataFrame({"Email": [f"u{i}@x.com" for i in range(9)],
                          "Score": ["10", "9", "", "ten", "6.5", "11", "-1", "3", "7"]})
    dataset = load(ws, frame)
    assert dataset.bad_values["score"].count == 2  # 'ten' and 6.5
    result = m.nps_summary(ws.con, dataset.table, dataset.bad_values["score"].count)
    row = result.frame.iloc[0]
    # valid: 10, 9, 3, 7 → P 2, Pa 1, D 1 → (2 − 1)/4 = 25.0
    assert (row.n, row.promoters, row.passives, row.detractors) == (4, 2, 1, 1)
    assert row.nps == pytest.approx(25.0)
    assert result.excluded == {m.EXCLUDED_BLANK: 1, m.EXCLUDED_TEXT: 2, m.EXCLUDED_RANGE: 2}
    assert result.excluded_text() == ("5 row(s) left out: 1 score blank, 2 score not a whole number "
                                      "(text or decimal), 2 score outside 0–10.")


def test_all_blank_scores_give_no_nps_and_no_crash(ws):
    dataset = load(ws, pd.DataFrame({"Email": ["a", "b"], "Score": ["", ""], "Plan": ["x", "y"]}))
    row = m.nps_summary(ws.con, dataset.table).frame.iloc[0]
    assert row.n == 0 and math.isnan(row.nps) and math.isnan(row.moe)
    dist = m.score_distribution(ws.con, dataset.table)
    assert dist.frame["responses"].sum() == 0 and dist.excluded == {m.EXCLUDED_MISSING: 2}
    assert m.referral_candidates(ws.con, dataset.table).frame.empty


# ------------------------------------------------------------------ the real export

def test_real_prep_air_export(ws):
    dataset = ws.load("preppin_2021w23_nps_prep_air.csv",
                      real_file("preppin_2021w23_nps_prep_air.csv").read_bytes(), kinds=["nps_responses"])
    assert dataset.kind == "nps_responses" and dataset.ready
    row = m.nps_summary(ws.con, dataset.table).frame.iloc[0]
    # 184 responses: 74 promoters (38 nines, 36 tens), 75 passives, 35 detractors
    # NPS = 100·(74 − 35)/184 = 21.1957; var = (109/184) − (39/184)² = 0.592391 − 0.044926 = 0.547465
    # MoE = 195.9964·√(0.547465/184) = 10.6910
    assert (row.n, row.promoters, row.passives, row.detractors) == (184, 74, 75, 35)
    assert row.nps == pytest.approx(21.1957, abs=1e-4)
    assert row.moe == pytest.approx(10.6910, abs=1e-4)
    assert m.segment_columns(ws.con, dataset) == []  # Airline is "Prep Air" throughout: nothing to compare
    seg = m.nps_by_segment(ws.con, dataset.table, "airline").frame
    assert seg["segment"].tolist() == ["Prep Air"] and seg["n"].tolist() == [184]
    with pytest.raises(BoundaryError, match="no response date"):
        m.nps_by_period(ws.con, dataset.table)
    assert m.area_flags(ws) == []  # NPS 21 is healthy; no dates, so no dips
    assert set(m.area_tables(ws)) == {"NPS summary", "NPS score distribution", "NPS referral candidates",
                                     "NPS detractors to call back", "NPS promoters to thank"}
    assert len(m.area_tables(ws)["NPS referral candidates"]) == 74


# ------------------------------------------------------------------ trend and dips

def _dip_frame() -> pd.DataFrame:
    jan = [10] * 6 + [8] * 2 + [3] * 2  # P 6, D 2, n 10 → NPS 40
    feb = [10] * 1 + [8] * 2 + [3] * 7  # P 1, D 7, n 10 → NPS −60
    mar = jan                           # NPS 40 again
    rows = ([("2025-01-%02d" % (i + 1), s) for i, s in enumerate(jan)]
            + [("2025-02-%02d" % (i + 1), s) for i, s in enumerate(feb)]
            + [("2025-03-%02d" % (i + 1), s) for i, s in enumerate(mar)]
            + [("", 9), ("2025-03-05", "")])
    return pd.DataFrame({"Email": [f"u{i}@x.com" for i in range(len(rows))],
                         "Date": [r[0] for r in rows], "Score": [r[1] for r in rows]})


def test_dip_beyond_the_noise_by_hand(ws):
    dataset = load(ws, _dip_frame())
    result = m.nps_by_period(ws.con, dataset.table, "month", baseline_periods=8, alpha=0.05, min_responses=10)
    f = result.frame.set_index("label")
    assert f["nps"].round(6).tolist() == [40.0, -60.0, 40.0]
    assert f.loc["Jan 2025", "reading"] == m.READ_NO_BASELINE and not f.loc["Jan 2025", "tested"]
    # Feb (P1 Pa2 D7) vs Jan's mix (0.6, 0.2, 0.2): exact P(S ≤ −6 of 10 answers) = 0.00022231
    # (scipy.stats.multinomial summed); score test σ²₀ = 0.8 − 0.4² = 0.64,
    # z = (−0.6 − 0.4)/√(0.64·(1/10 + 1/10)) = −1/0.357771 = −2.795085, Φ(z) = 0.0025943 (scipy norm.cdf);
    # p = the larger = 0.0025943
    assert f.loc["Feb 2025", "z"] == pytest.approx(-2.795085, abs=1e-6)
    assert f.loc["Feb 2025", "p_value"] == pytest.approx(0.0025943, abs=1e-7)
    # Feb looked like a dip on its own (p < 0.025), so March is held against January alone: the same
    # mix, z = 0, p = max(exact P(S ≤ 4) = 0.559941, Φ(0) = 0.5) = 0.559941
    assert f.loc["Mar 2025", "baseline_nps"] == pytest.approx(40.0) and f.loc["Mar 2025", "baseline_n"] == 10
    assert f.loc["Mar 2025", "z"] == pytest.approx(0.0) and f.loc["Mar 2025", "p_value"] == pytest.approx(0.559941, abs=1e-6)
    # No pair test: Jan has no baseline, and Feb+Mar (20 answers) would be held against Jan's 10.
    # BH over the 2 tested months: Feb 0.0025943·2/1 = 0.0051886 < α/2 = 0.025 → dip; Bonferroni
    # the same, not below α/20 = 0.0025 → medium
    assert f["pair_p_value"].isna().all()
    assert f.loc["Feb 2025", "p_adjusted"] == pytest.approx(0.0051886, abs=1e-7)
    assert f.loc["Feb 2025", "dip"] and f.loc["Feb 2025", "severity"] == "medium"
    assert not f.loc["Mar 2025", "dip"] and f.loc["Mar 2025", "reading"] == m.READ_NOISE
    assert f.loc["Mar 2025", "incomplete"] and not f.loc["Feb 2025", "incomplete"]  # data ends 10 March
    assert result.excluded == {m.EXCLUDED_NO_DATE: 1, m.EXCLUDED_MISSING: 1}
    # with the default minimum of 30 answers nothing here is tested: ten answers a month cannot tell
    default = m.nps_by_period(ws.con, dataset.table, "month").frame
    assert not default["tested"].any() and not default["dip"].any()
    assert default["reading"].tolist() == [m.READ_SMALL] * 3


def test_two_detractors_are_not_a_high_dip(ws):
    # The case: a month of 2 answers, both detractors, after months of 100 (45/30/25).
    # The old test used the period's own variance (0 here) and gave z = −16.6 and "high".
    rows = []
    for month in range(1, 5):
        rows += [(f"2025-{month:02d}-10", s) for s in [10] * 45 + [8] * 30 + [3] * 25]
    rows += [("2025-05-10", 2), ("2025-05-11", 0)]
    dataset = load(ws, pd.DataFrame({"Date": [r[0] for r in rows], "Score": [r[1] for r in rows]}))
    may = m.nps_by_period(ws.con, dataset.table).frame.iloc[-1]
    assert may["nps"] == -100.0 and not may["tested"] and not may["dip"] and may["reading"] == m.READ_SMALL
    assert m.area_flags(ws) == []
    # tested anyway, the exact tail is 0.25² = 0.0625 (lib.stats doctest) — no dip even so;
    # the score test: σ²₀ = 0.66, z = (−1 − 0.2)/√(0.66·(1/2 + 1/400)) = −1.2/0.575891 = −2.083729,
    # Φ(z) = 0.018592 (scipy norm.cdf); p = the larger = 0.0625
    z, p = m.mix_p_value(0, 0, 2, 180, 120, 100)
    assert z == pytest.approx(-2.083729, abs=1e-6) and p == pytest.approx(0.0625)


def test_dip_p_is_the_larger_of_exact_and_score_test():
    # 40 answers P10 Pa10 D20 against a baseline of 100 (45/30/25): exact P(S ≤ −10) = 0.00039926
    # (scipy multinomial summed), score z = (−0.25 − 0.2)/√(0.66·(1/40 + 1/100)) = −2.960783,
    # Φ(z) = 0.00153429 (scipy): the baseline's own uncertainty makes the score test the larger
    z, p = m.mix_p_value(10, 10, 20, 45, 30, 25)
    assert z == pytest.approx(-2.960783, abs=1e-6) and p == pytest.approx(0.00153429, abs=1e-8)
    # a baseline of one kind of answer has no spread: the period is held against both pooled
    # (P 30+10, Pa 10, D 20 of 70) instead of an infinite z
    z, p = m.mix_p_value(10, 10, 20, 30, 0, 0)
    assert math.isfinite(z) and p == pytest.approx(m.mix_p_value(10, 10, 20, 40, 10, 20)[1])


def test_dips_are_adjusted_for_many_periods_and_kept_out_of_later_baselines():
    # 8 months of 100 answers at 45/30/25 (NPS 20), then 2 months at 34/30/36 (NPS −2)
    counts = pd.DataFrame([(45, 30, 25)] * 8 + [(34, 30, 36)] * 2, columns=["promoters", "passives", "detractors"])
    counts["n"] = counts.sum(axis=1)
    out = m.dip_tests(counts, baseline_periods=8, alpha=0.05, min_responses=30)
    assert out["tested"].tolist() == [False] + [True] * 9  # month 1 has no baseline
    # months 2–8: the same mix as their baseline, p = exact P(S ≤ 20 of 100) = 0.521982 (scipy)
    assert out["p_value"].iloc[1:8].round(6).tolist() == [0.521982] * 7
    # month 9 vs 800 answers at NPS 20: z = −0.22/√(0.66·(1/100 + 1/800)) = −2.553139, Φ = 0.0053378
    # (exact 0.0044278 is smaller). Month 10's baseline leaves month 9 out: the same 800 answers.
    assert out["baseline_n"].iloc[9] == 800 and out["baseline_nps"].iloc[9] == pytest.approx(20.0)
    assert out["z"].iloc[8:].round(6).tolist() == [-2.553139] * 2
    # pairs: months 3+4 … 9+10 (months 2+3 would be held against month 1's 100 answers, fewer than
    # their 200). Months 9+10 together (68/60/72 of 200, NPS −2) vs month 9's baseline:
    # z = −0.22/√(0.66·(1/200 + 1/800)) = −3.425395, Φ = 0.00030695 (exact 0.0000911 is smaller)
    assert out["pair_p_value"].notna().sum() == 7
    assert out["pair_z"].iloc[9] == pytest.approx(-3.425395, abs=1e-6)
    # statsmodels multipletests over the 16 p-values (9 months, 7 pairs): BH months 9 and 10
    # 0.0284685 (not < 0.025 alone), pair 9+10 0.0049112 (< 0.025: both months dip);
    # Bonferroni 0.0049112, not below α/20 = 0.0025 → medium, not high
    assert out["p_adjusted"].iloc[8:].round(7).tolist() == [0.0284685] * 2
    assert out["pair_p_adjusted"].iloc[9] == pytest.approx(0.0049112, abs=1e-7)
    assert out["dip"].tolist() == [False] * 8 + [True] * 2
    assert out["severity"].tolist() == [""] * 8 + ["medium"] * 2
    assert out["reading"].iloc[9] == m.READ_DIP_PAIR
    # had month 9 stayed in month 10's baseline (P 394 Pa 270 D 236 of 900), month 10 would look
    # less unusual: the exclusion matters
    kept = m.mix_p_value(34, 30, 36, 7 * 45 + 34, 7 * 30 + 30, 7 * 25 + 36)[1]
    assert kept > out["p_value"].iloc[9]


def _simulated_months(rng, mixes_and_sizes) -> pd.DataFrame:
    rows = [rng.multinomial(n, mix) for mix, n in mixes_and_sizes]
    counts = pd.DataFrame(rows, columns=["promoters", "passives", "detractors"])
    counts["n"] = counts.sum(axis=1)
    return counts


def test_calibration_on_null_months_and_a_planted_drop():
    """Issue #16's target: one fixed mix, months of 2–500 answers → no high flag and at most one or
    two flags; a 30-point drop for 2 months of ~100 answers each is still found."""
    import numpy as np

    rng = np.random.default_rng(16)
    null_flags, high, found = [], 0, 0
    for _ in range(100):
        sizes = [int(s) for s in rng.choice([2, 3, 5, 10, 25, 40, 70, 120, 250, 500], size=24)]
        out = m.dip_tests(_simulated_months(rng, [((.45, .30, .25), n) for n in sizes]))
        null_flags.append(len(m.dip_episodes(out)))  # one flag per run of dipped months
        high += int((out["severity"] == "high").sum())
        plan = [((.45, .30, .25), n) for n in sizes[:20]] + [((.30, .30, .40), 100)] * 2 \
            + [((.45, .30, .25), n) for n in sizes[22:]]
        found += bool(m.dip_tests(_simulated_months(rng, plan))["dip"].iloc[20:22].any())
    # BH at α/2 over months and pairs: a few files in a hundred with a flag, one or two flags each
    assert max(null_flags) <= 2 and sum(null_flags) <= 6, null_flags
    assert high == 0
    assert found >= 90  # of 100 (a 30-point drop on 100 answers is ≈ 3.4 standard errors a month)


def test_one_period_only(ws):
    dataset = load(ws, pd.DataFrame({"Date": ["2025-05-01", "2025-05-02"], "Score": [9, 2]}))
    frame = m.nps_by_period(ws.con, dataset.table, "month").frame
    assert len(frame) == 1 and not frame["dip"].any() and frame["nps"].iloc[0] == 0.0


# ------------------------------------------------------------------ segments, distribution, referrals

def test_segments_add_up_and_small_groups_are_marked(ws):
    frame = pd.DataFrame({"Score": [10, 10, 0, 7, 8, 9, "", 11],
                          "Plan": ["A", "A", "A", "B", "B", "", "B", "A"]})
    dataset = load(ws, frame)
    assert [c.column for c in m.segment_columns(ws.con, dataset)] == ["plan"]
    seg = m.nps_by_segment(ws.con, dataset.table, "plan", min_group=3).frame.set_index("segment")
    # A: 10, 10, 0 (11 left out) → (2 − 1)/3 = 33.33; B: 7, 8 → 0; blank plan: 9 → 100, one answer: no margin
    assert seg.loc["A", "nps"] == pytest.approx(100 / 3)
    assert seg.loc["B", "nps"] == 0.0 and seg.loc["(blank)", "nps"] == 100.0
    assert math.isnan(seg.loc["(blank)", "moe"])
    assert seg["n"].sum() == 6  # groups add up to the valid total
    assert not seg.loc["A", "too_small"] and seg.loc["B", "too_small"]
    # A vs rest (B + blank: P 1, Pa 2, D 0, n 3 → 33.33): same NPS → z 0, not different
    assert seg.loc["A", "z"] == pytest.approx(0.0) and not seg.loc["A", "differs"]
    assert seg["tested"].tolist() == [True, False, False]  # only A has 3 answers and a rest of 3


def _three_groups() -> pd.DataFrame:
    groups = {"X": [10] * 10 + [8] * 20 + [3] * 30,   # 60 answers, NPS −33.3
              "Y": [10] * 50 + [8] * 30 + [3] * 20,   # 100 answers, NPS 30
              "Z": [10] * 50 + [8] * 30 + [3] * 20}
    return pd.DataFrame([(g, s) for g, scores in groups.items() for s in scores], columns=["Team", "Score"])


def test_segment_tests_by_hand_and_flags(ws):
    dataset = load(ws, _three_groups())
    seg = m.nps_by_segment(ws.con, dataset.table, "team", min_group=30, alpha=0.05).frame.set_index("segment")
    # X vs the rest (Y+Z: 100/60/40 of 200, mix .5/.3/.2, σ²₀ = 0.7 − 0.09 = 0.61):
    # z = (−1/3 − 0.3)/√(0.61·(1/60 + 1/200)) = −5.508982; lower tail max(exact 1.0996e−9, Φ(z) 1.8046e−8)
    # (scipy multinomial summed / norm.cdf) → two-sided p = 2 × 1.8046e−8 = 3.6091e−8
    assert seg.loc["X", "rest_n"] == 200 and seg.loc["X", "rest_nps"] == pytest.approx(30.0)
    assert seg.loc["X", "z"] == pytest.approx(-5.508982, abs=1e-6)
    assert seg.loc["X", "p_value"] == pytest.approx(3.6091e-8, rel=1e-4)
    # Y vs the rest (X+Z: 60/50/50 of 160, NPS 6.25, σ²₀ = 110/160 − 0.0625² = 0.683594):
    # z = (0.3 − 0.0625)/√(0.683594·(1/100 + 1/160)) = 2.253398; upper tail max(exact 0.0022778,
    # 1 − Φ(z) 0.012117) → two-sided 0.024234
    assert seg.loc["Y", "z"] == pytest.approx(2.253398, abs=1e-6)
    assert seg.loc["Y", "p_value"] == pytest.approx(0.024234, abs=1e-6)
    # statsmodels multipletests over the 3: BH X 1.0827e−7, Y and Z 0.024234 (all differ at α = 0.05);
    # Bonferroni X 1.0827e−7 < α/10 → high, Y 0.072702 → medium
    assert seg.loc["Y", "p_adjusted"] == pytest.approx(0.024234, abs=1e-6)
    assert seg["differs"].all() and seg["severity"].tolist() == ["medium", "medium", "high"]
    # flags: only X — below the rest and at or below the healthy line; Y and Z are above the rest
    flags = [f for f in m.area_flags(ws) if f.metric == "NPS by segment"]
    assert [(f.subject, f.severity) for f in flags] == [("Team = X", "high")]
    assert flags[0].reference == pytest.approx(30.0) and "over 3 groups" in flags[0].test


def test_top_segments_keep_totals_and_mark_other(ws):
    dataset = load(ws, _three_groups())
    seg = m.nps_by_segment(ws.con, dataset.table, "team", min_group=30).frame
    top = m.top_segments(seg, max_groups=1)
    # Y and Z have 100 answers each, the name breaks the tie: Y shown; X + Z merged (160 answers:
    # P 60, Pa 50, D 50 → NPS 6.25; var = 110/160 − 0.0625² = 0.683594, MoE = 195.9964·√(0.683594/160) = 12.81)
    assert top["segment"].tolist() == ["Y", "Other (2 groups)"] and top["n"].sum() == 260
    other = top.iloc[1]
    assert other["other"] and not other["tested"] and not other["differs"] and other["groups"] == 2
    assert other["nps"] == pytest.approx(6.25) and other["moe"] == pytest.approx(12.81, abs=0.01)
    assert m.top_segments(seg, 20)["other"].sum() == 0  # nothing left: no Other row
    found = m.top_segments(seg, 20, search="x")
    assert found["segment"].tolist() == ["X", "Other (2 groups)"]


def test_distribution_lists_every_score(ws):
    dataset = load(ws, pd.DataFrame({"Score": [10, 10, 3, "x", 12]}))
    result = m.score_distribution(ws.con, dataset.table)
    f = result.frame
    assert f["score"].tolist() == list(range(11))
    assert f.set_index("score")["responses"].to_dict() == {**{s: 0 for s in range(11)}, 10: 2, 3: 1}
    assert f["share"].sum() == pytest.approx(100.0)
    assert f.set_index("score").loc[3, "category"] == "Detractor"
    assert result.excluded == {m.EXCLUDED_MISSING: 1, m.EXCLUDED_RANGE: 1}


def test_referral_candidates_use_the_latest_answer(ws):
    frame = pd.DataFrame({"Email": ["a@x", "a@x", "b@x", "b@x", "c@x", "d@x"],
                          "Date": ["2025-01-01", "2025-03-01", "2025-01-01", "2025-03-01", "2025-02-01", "2025-02-01"],
                          "Score": [10, 3, 6, 9, 7, "ten"], "Plan": ["P", "P", "Q", "Q", "P", "Q"]})
    dataset = load(ws, frame)
    nine = m.referral_candidates(ws.con, dataset.table, 9, {"plan": "Plan"}).frame
    # a's latest is 3 (not a candidate any more), b's latest is 9, c gave 7, d's score is unreadable
    assert nine["respondent"].tolist() == ["b@x"] and nine["Plan"].tolist() == ["Q"]
    seven = m.referral_candidates(ws.con, dataset.table, 7).frame
    assert seven["respondent"].tolist() == ["b@x", "c@x"]
    with pytest.raises(BoundaryError, match="from 0 to 10"):
        m.referral_candidates(ws.con, dataset.table, 11)


# ------------------------------------------------------------------ campaigns

def test_nps_after_campaigns_vs_other_days(ws):
    dataset = load(ws, _dip_frame())
    calendar = load(ws, pd.DataFrame({"Campaign": ["Blitz", "Webinar"], "Channel": ["email", "webinar"],
                                      "Start Date": ["2025-02-01", "2025-03-20"],
                                      "End Date": ["2025-02-03", ""]}), "calendar.csv", "campaign_calendar")
    cmp, per = m.campaign_effect(ws.con, dataset.table, calendar.table, days=5)
    rows = cmp.frame.set_index("responses")
    # Blitz window: 1 Feb ≤ date < 3 Feb + 5 days = 8 Feb → Feb 1–7: 10, 8, 8, 3, 3, 3, 3 → P 1, D 4 → −42.86
    within = rows.loc["Within 5 days of a campaign"]
    assert (within.n, within.promoters, within.detractors) == (7, 1, 4)
    assert within.nps == pytest.approx(-300 / 7)
    # Other dated days: 30 dated valid − 7 = 23 (the undated 9 and the blank score are not counted)
    assert rows.loc["Other days", "n"] == 23
    assert per.frame["campaign"].tolist() == ["Blitz"]  # the webinar has no response in its window
    assert m.difference_z(cmp.frame) < 0
    only_webinars, per_w = m.campaign_effect(ws.con, dataset.table, calendar.table, 5, ["webinar"])
    assert only_webinars.frame["responses"].tolist() == ["Other days"] and per_w.frame.empty
    shown = m.campaigns(ws.con, calendar.table, pd.Timestamp("2025-03-01"), pd.Timestamp("2025-04-01"))
    assert shown["campaign"].tolist() == ["Webinar"]


def test_dips_after_campaigns_have_a_base_rate():
    # 10 tested months Jan–Oct 2025; campaigns on 5 Jan, 20 Mar (ends 2 Apr) and 25 Jul, 14-day windows:
    # windows [5 Jan, 19 Jan), [20 Mar, 16 Apr), [25 Jul, 8 Aug) → Jan, Mar, Apr, Jul, Aug inside (5 of 10)
    months = pd.date_range("2025-01-01", periods=10, freq="MS")
    periods = pd.DataFrame({"period": months, "tested": True,
                            "dip": [m_.month in (3, 8) for m_ in months]})  # Mar and Aug dipped, both inside
    calendar = pd.DataFrame({"start_date": pd.to_datetime(["2025-01-05", "2025-03-20", "2025-07-25"]),
                             "end_date": pd.to_datetime(["2025-01-05", "2025-04-02", "2025-07-25"])})
    r = m.dips_after_campaigns(periods, calendar, 14, "month")
    assert (r.periods, r.periods_in_window, r.dips, r.dips_in_window) == (10, 5, 2, 2)
    assert r.share_periods == 0.5 and r.share_dips == 1.0
    # [[2, 0], [3, 5]]: P(both dips inside | 5 of 10 inside) = C(5,2)/C(10,2) = 10/45 = 0.2222
    # (scipy.stats.fisher_exact([[2, 0], [3, 5]], alternative='greater') = 0.222222): no news
    assert r.p_value == pytest.approx(0.222222, abs=1e-6)
    assert r.sentence("month", 14, 0.05) == (
        "Dips and campaigns: 5 of 10 tested months (50%) fall within 14 days of a campaign; of the 2 dip(s), 2 (100%). "
        "Fisher's exact test, one-sided: p = 0.22 — no more often than other periods do, as far as these periods "
        "can tell.")
    # an untested month is neither: dropping May changes only the count of periods
    periods.loc[4, "tested"] = False
    assert m.dips_after_campaigns(periods, calendar, 14, "month").periods == 9
    none = m.dips_after_campaigns(periods.assign(dip=False), calendar, 14, "month")
    assert none.dips == 0 and math.isnan(none.p_value) and math.isnan(none.share_dips)


# ------------------------------------------------------------------ comments and other columns

def test_comments_sentiment_terms_and_marketing(ws):
    frame = pd.DataFrame({
        "Score": [2, 3, 1, 10, 9, 10, "ten", 8],
        "Comment": ["Way too many emails", "Too many emails, awful", "Spam every day, too many emails",
                    "Love the dashboards", "Great dashboards", "Love it", "Too many emails", " "]})
    dataset = load(ws, frame)
    result = m.comments(ws.con, dataset.table)
    f = result.frame
    assert len(f) == 6 and result.excluded == {"comment with no valid score": 1}
    assert f.loc[f["category"] == "Detractor", "about_marketing"].all()
    assert not f.loc[f["category"] == "Promoter", "about_marketing"].any()
    by_cat = m.sentiment_by_category(f).set_index("category")
    assert by_cat.loc["Promoter", "pct_positive"] == 100.0 and by_cat.loc["Passive", "comments"] == 0
    terms = m.detractor_terms(f, min_texts=2)
    assert terms.iloc[0]["side"] == "Detractors" and terms.iloc[0]["detractor_comments"] == 3
    assert "dashboards" in set(terms.loc[terms["side"] == "Promoters", "term"])


def test_other_score_columns_are_offered(ws):
    frame = pd.DataFrame({"How likely are you to recommend us?": [10, 9, 3],
                          "How easy was setup (0-10)?": [7, 8, 10], "Plan": ["a", "b", "a"]})
    dataset = load(ws, frame)
    assert dataset.mapping["score"] == "How likely are you to recommend us?"
    assert m.other_score_columns(ws.con, dataset) == ["How easy was setup (0-10)?"]


def test_nothing_loaded_means_no_flags_and_no_tables(ws):
    assert m.area_flags(ws) == [] and m.area_tables(ws) == {}


def test_low_nps_is_flagged_against_the_healthy_line(ws):
    load(ws, pd.DataFrame({"Score": [0] * 20 + [10] * 15}))
    flags = m.area_flags(ws)
    # (15 − 20)/35 = −14.29 below the healthy line 0; var = 1 − (5/35)² = 0.979592,
    # MoE = 195.9964·√(0.979592/35) = 32.79 → the interval −47.1…+18.5 reaches above 0: medium
    assert [(f.metric, f.severity) for f in flags] == [("NPS", "medium")]
    assert flags[0].value == pytest.approx(-500 / 35) and flags[0].reference == 0.0


def test_low_nps_is_high_only_when_the_interval_is_below_the_line(ws):
    load(ws, pd.DataFrame({"Score": [0] * 60 + [10] * 20}))
    # (20 − 60)/80 = −50; var = 1 − 0.25 = 0.75, MoE = 195.9964·√(0.75/80) = 18.98 → up to −31.0: high
    assert [(f.metric, f.severity) for f in m.area_flags(ws)] == [("NPS", "high")]


def test_an_nps_of_exactly_zero_is_not_healthy(ws):
    load(ws, pd.DataFrame({"Score": [10] * 10 + [8] * 10 + [3] * 10}))
    flags = m.area_flags(ws)  # (10 − 10)/30 = 0: healthy means above 0
    assert [(f.metric, f.value, f.severity) for f in flags] == [("NPS", 0.0, "medium")]
    assert m.nps_reading(0.0, 0, 20) == "not healthy (0 or below)"
    assert m.nps_reading(20.0, 0, 20) == "healthy (above 0), not yet good (above 20)"
    assert m.nps_reading(20.1, 0, 20) == "good (above 20)"


def test_sample_size_text_comes_from_the_margin_formula():
    # the issue: "margin above ±15 under ~30 responses" was wrong. Worst mix (var 1) at 30 answers:
    # 195.9964·√(1/30) = 35.78; ±15 needs (195.9964/15)² = 170.73 → 171 answers.
    # Prep Air's mix 74/75/35 (var 0.547465, tests above): at 30 answers 195.9964·√(0.547465/30) = 26.48;
    # ±15 needs 170.73 × 0.547465 = 93.47 → 94
    text = m.sample_size_text(74, 75, 35, 30)
    assert text == ("At 30 responses the margin of error is ±26 points with this mix of answers, ±36 at worst "
                    "(half promoters, half detractors); ±15 points needs 94 responses with this mix, 171 at worst.")
    assert m.sample_size_text(0, 0, 0, 30) == ("At 30 responses the margin of error is up to ±36 at worst (half "
                                               "promoters, half detractors); ±15 points needs up to 171 responses.")
    # a typical mix 45/30/25 (var 0.66) at 30 answers: ±29; ±15 needs 112.7 → 113
    assert m.margin_at(30, 0.66) == pytest.approx(29.08, abs=0.01) and m.responses_for_margin(15, 0.66) == 113


def test_comments_when_no_comment_is_usable(ws):
    dataset = load(ws, pd.DataFrame({"Score": ["ten", 9], "Comment": ["Spam", ""]}))
    result = m.comments(ws.con, dataset.table)
    assert result.frame.empty and result.excluded == {"comment with no valid score": 1}
    assert m.detractor_terms(result.frame).empty


# ------------------------------------------------------------------ chart builders

def test_chart_builders_are_titled_and_labelled(ws):
    from lib.charts import nps as charts

    dataset = load(ws, _dip_frame())
    calendar = load(ws, pd.DataFrame({"Campaign": ["Blitz"], "Channel": ["email"], "Start Date": ["2025-02-01"]}),
                    "calendar.csv", "campaign_calendar")
    periods = m.nps_by_period(ws.con, dataset.table).frame
    trend = charts.trend_chart(periods, 0.0, m.campaigns(ws.con, calendar.table), "month", 20.0).to_dict()
    assert "dip" in trend["title"] and len(trend["layer"]) == 6
    assert trend["layer"][4]["encoding"]["y"]["title"].startswith("NPS (points")
    references = [row["label"] for rows in trend["datasets"].values() for row in rows if "label" in row
                  and str(row["label"]).startswith(("healthy", "good"))]
    assert references == ["healthy: above 0", "good: above 20"]  # both lines, labelled
    seg = m.nps_by_segment(ws.con, dataset.table, "respondent", 30).frame
    spec = charts.interval_chart(seg, "segment", "NPS by email", "Email").to_dict()
    assert spec["title"] == "NPS by email" and spec["layer"][1]["encoding"]["x"]["scale"]["domain"] == [-100, 100]
    dist = charts.distribution_chart(m.score_distribution(ws.con, dataset.table).frame).to_dict()
    assert dist["layer"][0]["encoding"]["x"]["title"] == "Score (0–10)"
    frame = pd.DataFrame({"category": ["Detractor", "Promoter"], "comment": ["too many emails", "love it"]})
    by_cat = m.sentiment_by_category(frame.assign(sentiment=[-0.3, 0.6], sentiment_label=["negative", "positive"]))
    assert charts.sentiment_chart(by_cat).to_dict()["encoding"]["x"]["scale"]["domain"] == [0, 100]
    terms = pd.DataFrame({"term": ["emails"], "z": [2.0], "side": ["Detractors"], "share_detractors": [0.5],
                          "share_promoters": [0.0]})
    assert "log odds" in charts.terms_chart(terms).to_dict()["encoding"]["x"]["title"]
