"""Smoke test for bench/interaction.py: one page, one repeat, so the benchmark keeps running as pages
change (a renamed widget key shows up as a missing step). No timing assertions: CPU figures belong to
the benchmark, not the suite."""

from bench import interaction as bench


def test_one_page_one_repeat_measures_every_step():
    results = bench.measure(["cohorts"], repeats=1)
    steps = results["cohorts"]
    # first render, plain rerun and each of the page's listed widgets were found, changed and timed,
    # and the first render of one more visitor who finds the sample figures kept by the server
    assert len(steps) == 3 + len(bench.PAGES["cohorts"][1]), list(steps)
    assert "first render, a later visitor" in steps
    assert all(len(v) == 1 and v[0] >= 0 for v in steps.values())
    text = bench.report(results, 1)
    assert "cohorts" in text and "× target" in text
