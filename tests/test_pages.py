"""Every page renders, empty and with the sample data, with no exception (AppTest)."""

from pathlib import Path

import pytest

from tests.apptest import APP, fresh_app

PAGES = ["app_pages/home.py", "app_pages/email.py", "app_pages/in_app.py", "app_pages/nps.py", "app_pages/voice.py",
         "app_pages/ncvg.py", "app_pages/funnel.py", "app_pages/cohorts.py", "app_pages/report.py", "app_pages/sql.py",
         "app_pages/spark.py"]


def test_every_listed_page_file_exists():
    text = Path(APP).read_text()
    for page in PAGES:
        assert f'"{page}"' in text
        assert (Path(APP).parent / page).exists()


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_empty(page):
    at = fresh_app()
    at.switch_page(page).run()
    assert not at.exception, at.exception


def test_home_loads_sample_data_for_every_page_and_every_chart_is_valid_vega_lite(monkeypatch):
    import ui.cache

    # ui.cache converts the pages' charts without Altair's schema validation (speed): validate each here
    shown, convert = [], ui.cache.chart_spec

    def recording(chart):
        shown.append(chart)
        return convert(chart)
    monkeypatch.setattr(ui.cache, "chart_spec", recording)
    ui.cache.SAMPLE_MEMO.clear()
    at = fresh_app()
    at.button(key="sample_home").click().run()
    assert not at.exception
    ws = at.session_state["workspace"]
    from lib.sample import SAMPLE_FILES

    assert set(SAMPLE_FILES) <= {k for k, d in ws.datasets.items() if d.ready}
    for page in PAGES[1:]:
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
    assert len(shown) > 40  # every page's charts went through the converter
    for chart in shown:
        chart.to_dict()  # validates against the Vega-Lite schema; raises on a broken chart


def test_presentation_mode_hides_the_machinery_and_keeps_the_numbers():
    at = fresh_app()
    at.button(key="sample_home").click().run()
    machinery = ("Show SQL", "Columns")
    for page in ["app_pages/email.py", "app_pages/ncvg.py", "app_pages/funnel.py", "app_pages/report.py"]:
        at.switch_page(page).run()
        at.toggle(key="presenting").set_value(False).run()
        tiles = [m.label for m in at.metric]
        assert any(e.label.startswith(machinery) for e in at.expander), page
        at.toggle(key="presenting").set_value(True).run()
        assert not at.exception, (page, at.exception)
        assert [m.label for m in at.metric] == tiles, page  # same tiles, same order
        assert not [e.label for e in at.expander if e.label.startswith(machinery)], page
        assert not at.get("file_uploader") or page == "app_pages/report.py", page  # report: thresholds JSON
        assert not [b for b in at.get("download_button") if b.proto.label == "Download CSV"], page
    at.toggle(key="presenting").set_value(False).run()
    at.switch_page("app_pages/email.py").run()
    assert any(e.label == "Columns" for e in at.expander)  # back, and the data is still loaded
    assert at.get("file_uploader") and [m.label for m in at.metric][:1] == ["Delivery rate"]
