"""A user loads the sample data, opens the Boundary report from the sidebar, sees flags from several
areas and downloads the Excel workbook, which opens with a sheet per area between Flags and Definitions."""

import openpyxl
import pytest

from lib.result import AREA_LABELS
from tests.browser.conftest import open_page, wait_idle

pytestmark = pytest.mark.browser


def test_sample_data_report_flags_and_workbook_download(page, app_url, tmp_path):
    open_page(page, app_url)
    page.get_by_role("button", name="Load sample data").click()
    page.get_by_text("Sample data loaded").first.wait_for()
    wait_idle(page)
    # the sidebar link keeps this session (and its data); a new URL would start an empty one
    page.locator("[data-testid='stSidebarNav'] a", has_text="Boundary report").click()
    page.get_by_role("heading", name="Boundary report").wait_for()
    wait_idle(page)
    assert page.locator("[data-testid='stException']").count() == 0

    # the red-flags summary (area, metric, flags…): its visible rows name several areas
    summary = page.locator("[data-testid='stDataFrame']").first
    summary.locator("[role='gridcell']").first.wait_for(state="attached")  # the grid's accessible copy
    cells = set(summary.locator("[role='gridcell']").all_inner_texts())
    areas = cells & set(AREA_LABELS.values())
    assert len(areas) >= 3, cells
    flags_tile = page.locator("[data-testid='stMetric']").filter(has_text="Red flags").first
    assert int(flags_tile.locator("[data-testid='stMetricValue']").inner_text().replace(",", "")) > 10

    page.get_by_role("button", name="Build the Excel workbook").click()
    download_button = page.get_by_role("button", name="Download boundary_report.xlsx")
    download_button.wait_for()
    with page.expect_download() as info:
        download_button.click()
    download = info.value
    assert download.suggested_filename == "boundary_report.xlsx"
    path = tmp_path / "boundary_report.xlsx"
    download.save_as(path)

    book = openpyxl.load_workbook(path, read_only=True)
    names = book.sheetnames
    assert names[0] == "Flags" and names[-1] == "Definitions"
    # the sample data fills every page, so every area has its sheet, in the report's order
    assert names[1:-1] == list(AREA_LABELS.values())
    flags = book["Flags"]
    header = next(row for row in flags.iter_rows(values_only=True) if row and "Area" in row)
    assert {"Area", "Metric", "Severity"} <= set(header)
    area_col = header.index("Area")
    flagged_areas = {row[area_col] for row in flags.iter_rows(values_only=True)
                     if row and len(row) > area_col and row[area_col] in AREA_LABELS.values()}
    assert len(flagged_areas) >= 5, flagged_areas
    book.close()
