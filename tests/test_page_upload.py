"""Uploading on a page (AppTest): recognised files are analysed at once; the Columns panel fixes a
map and the fix is kept; bad files get a plain error, never a traceback."""

from tests.apptest import fresh_app
from ui.common import columns_key
from tests.conftest import real_file


def upload(at, page: str, key: str, name: str, data: bytes, mime: str = "text/csv"):
    at.switch_page(page).run()
    at.file_uploader(key=f"upload_{key}").set_value((name, data, mime)).run()
    assert not at.exception, at.exception
    return at


def test_real_mailchimp_export_is_recognised_without_mapping():
    at = upload(fresh_app(), "app_pages/email.py", "email", "mailchimp.csv",
                real_file("mailchimp_campaigns_mydomino.csv").read_bytes())
    ws = at.session_state["workspace"]
    assert ws.get("email_campaigns").rows_read == 62
    assert any("mailchimp.csv" in c.value and "62 rows" in c.value for c in at.caption)
    assert not at.error
    # no topic column: the open-rate trend is shown per week, not split by a one-topic "mix"
    assert any("no topic or campaign-type column" in i.value for i in at.info)
    assert any("pp per week (95% CI" in md.value and "** over 8 weeks" in md.value for md in at.markdown)
    assert not any("topic mix alone predicts" in md.value for md in at.markdown)


def test_columns_panel_fixes_the_map_and_keeps_it():
    data = b"Name,When,Audience,Opened,Clicked\nA,2025-01-06,100,20,3\nB,2025-01-13,120,25,4\n"
    at = upload(fresh_app(), "app_pages/email.py", "email", "odd.csv", data)
    assert "no column found for Send date, Sent (recipients) or Delivered" in at.error[0].value
    digest = at.session_state["workspace"].datasets["email_campaigns"].digest[:8]
    at.selectbox(key=f"map_email_email_campaigns_{digest}_send_date").set_value("When").run()
    at.selectbox(key=f"map_email_email_campaigns_{digest}_sent").set_value("Audience").run()
    assert not at.exception
    ws = at.session_state["workspace"]
    dataset = ws.get("email_campaigns")
    assert dataset is not None and dataset.mapping["sent"] == "Audience"
    # 'Audience' was first guessed as the list; choosing it for 'sent' took it away from the list,
    # and every selectbox shows the new map
    assert "list_name" not in dataset.mapping
    assert at.selectbox(key=f"map_email_email_campaigns_{digest}_list_name").value == "— not in file —"
    # moving to another page and back keeps the fixed dataset
    at.switch_page("app_pages/nps.py").run()
    at.switch_page("app_pages/email.py").run()
    assert ws.get("email_campaigns").mapping["send_date"] == "When" and not at.exception


def test_bad_file_shows_a_plain_error():
    at = upload(fresh_app(), "app_pages/nps.py", "nps", "survey.xlsx", b"not a workbook at all",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert at.error[0].value.startswith("survey.xlsx is not a valid Excel workbook")


def test_sheet_choice_in_the_columns_panel():
    from tests.test_ingest import xlsx_bytes

    data = xlsx_bytes({
        "Read me": [["Exported from Delighted"]],
        "Responses": [["Email", "Score", "Comment"], ["a@x.com", 10, "love it"], ["b@x.com", 3, "meh"]],
        "Old": [["Email", "Score", "Comment"], ["c@x.com", 8, "fine"]],
    })
    at = upload(fresh_app(), "app_pages/nps.py", "nps", "nps.xlsx", data,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    ws = at.session_state["workspace"]
    assert ws.get("nps_responses").sheet == "Responses"
    digest = ws.get("nps_responses").digest[:8]
    at.session_state[columns_key("nps", ws.get("nps_responses"))] = True  # the panel is built only when open
    at.run()
    at.selectbox(key=f"sheet_nps_nps_responses_{digest}").set_value("Old").run()
    assert not at.exception and ws.get("nps_responses").rows_read == 1
    at.run()  # the uploader still holds the file: the chosen sheet stays
    assert ws.get("nps_responses").sheet == "Old"


def test_a_file_for_another_page_is_pointed_there_and_loaded_for_it():
    # RavenStack subscriptions dropped on Cohorts: cohorts needs user + event time, but NCVG reads it as is
    subs = real_file("ravenstack_subscriptions.csv").read_bytes()
    at = upload(fresh_app(), "app_pages/cohorts.py", "cohorts", "ravenstack_subscriptions.csv", subs)
    assert any("looks like subscriptions" in i.value and "loaded there now" in i.value for i in at.info)
    ws = at.session_state["workspace"]
    assert ws.get("subscriptions").rows_read == 5000 and ws.get("activity") is None
    assert not ws.datasets["activity"].ready  # still offered here, to map by hand
    at.switch_page("app_pages/ncvg.py").run()
    assert not at.exception and [m.label for m in at.metric][:1] == ["New customers"]


def test_a_file_for_another_page_never_replaces_what_that_page_has():
    at = fresh_app()
    at.button(key="sample_home").click().run()
    subs = real_file("ravenstack_subscriptions.csv").read_bytes()
    upload(at, "app_pages/cohorts.py", "cohorts", "ravenstack_subscriptions.csv", subs)
    assert any("upload it there (it would replace subscriptions.csv)" in i.value for i in at.info)
    assert at.session_state["workspace"].get("subscriptions").file_name == "subscriptions.csv"
