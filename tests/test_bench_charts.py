"""Smoke test for bench/charts.py (the pages' chart specs and chart CPU): one page, so the tool keeps
working as pages change. No timing assertions: CPU figures belong to the benchmark, not the suite."""

import json

from bench import charts as bench


def test_dump_compare_and_share_on_one_page(tmp_path, capsys):
    bench.dump(tmp_path / "a", ["ncvg"])
    states = json.loads((tmp_path / "a" / "ncvg.json").read_text())
    # the first render and each of bench/interaction.py's NCVG widgets, each with its charts and their rows
    assert len(states) == 1 + len(bench.PAGES["ncvg"][1]) and all(states.values())
    chart = states["first render"][0]
    assert chart["datasets"] and all(name.startswith("rows-") for name in chart["datasets"])
    assert bench.compare(tmp_path / "a", tmp_path / "a") == 0
    changed = json.loads((tmp_path / "a" / "ncvg.json").read_text())
    changed["first render"][0]["spec"]["height"] = 1
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "ncvg.json").write_text(json.dumps(changed))
    assert bench.compare(tmp_path / "a", tmp_path / "b") == 1  # a changed spec is reported
    assert "chart 0/spec/height" in capsys.readouterr().out
    spent = bench.share("ncvg", "ncvg_value")
    assert spent["run"] > 0 and spent["build"] > 0 and spent["convert"] >= 0
