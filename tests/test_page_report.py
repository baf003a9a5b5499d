"""The report gathers flags from every area on the sample data and builds the workbook (AppTest)."""

import io

import openpyxl

from lib.report import AREA_LABELS
from tests.apptest import sample_page


def test_report_with_sample_data_has_flags_from_every_area_and_exports():
    at = sample_page("app_pages/report.py")
    flags = at.dataframe[1].value
    assert set(flags["Area"]) == set(AREA_LABELS.values()), set(AREA_LABELS.values()) - set(flags["Area"])
    assert at.metric[0].label == "Red flags" and int(at.metric[0].value) == len(flags)
    # lift opens on a question worth asking: leads who attended a webinar → became customers
    assert at.selectbox(key="lift_table").value == "leads"
    assert at.selectbox(key="lift_b_col").value == "webinars_attended"
    assert at.selectbox(key="lift_o_col").value == "customer_date"
    assert next(m for m in at.metric if m.label == "Outcome rate if did").value.endswith("%")
    summary = at.dataframe[0].value
    assert summary["Flags"].sum() == len(flags) and set(summary["Area"]) == set(flags["Area"])
    at.button(key="report_build").click().run()
    assert not at.exception
    book = openpyxl.load_workbook(io.BytesIO(at.session_state["report_workbook"]))
    assert book.sheetnames[0] == "Flags" and book.sheetnames[-1] == "Definitions"
    assert {"Email", "NPS", "NCVG", "Funnel", "Cohorts"} <= set(book.sheetnames)


def test_threshold_change_changes_flags_everywhere():
    at = sample_page("app_pages/report.py")
    before = len(at.dataframe[1].value)
    assert not at.number_input  # the thresholds panel is built only when open
    at.session_state["report_thresholds"] = True
    at.run()
    # an unsubscribe threshold of 100% can never be crossed: fewer flags afterwards
    at.number_input(key="th_report_email_unsubscribe_rate_max").set_value(100.0).run()
    assert not at.exception
    assert at.session_state["workspace"].thresholds["email_unsubscribe_rate_max"] == 1.0
    assert len(at.dataframe[1].value) < before
