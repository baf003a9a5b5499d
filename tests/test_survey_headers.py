"""Survey exports whose headers are the questions (Google Forms, Typeform, SurveyMonkey), made from
the real Prep Air NPS file (issue 18): the score is the first question whose header asks for 0–10
*and* whose answers are whole numbers 0–10; the others are offered in the Columns panel and named
under the file name; Google Forms' Timestamp is the response date."""

from __future__ import annotations

import csv
import io

import pandas as pd

from lib.schemas import candidates, map_columns, recognise
from tests.apptest import fresh_app
from tests.conftest import real_file
from ui.common import columns_key

EVENT = "On a scale of 0-10, how would you rate Prep Air?"
KEYNOTE = "On a scale of 0-10, how would you rate the opening keynote?"
FOOD = "How would you rate the food (0 to 10)?"
ADVICE = "What would you recommend we change?"  # says 'recommend' but holds text


def google_forms_export() -> tuple[bytes, list[int]]:
    """Prep Air's 184 scores under a Google Forms header, with a free-text question that says
    'recommend' first, two more 0–10 questions and a 'why?' question."""
    with real_file("preppin_2021w23_nps_prep_air.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    scores = [int(r[2]) for r in rows[1:]]
    out = [["Timestamp", ADVICE, EVENT, "Why did you give that score?", KEYNOTE, FOOD, "Email address"]]
    for i, score in enumerate(scores):
        stamp = pd.Timestamp("2021-06-01 09:00") + pd.Timedelta(hours=7 * i)
        out.append([stamp.strftime("%d/%m/%Y %H:%M:%S"), "More legroom" if i % 3 else "",
                    str(score), "fine" if i % 2 else "", str((score + 3) % 11), str(i % 11), rows[i + 1][1]])
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(out)
    return buf.getvalue().encode(), scores


def test_question_headers_are_recognised_as_nps_without_values():
    columns = ["Timestamp", ADVICE, EVENT, "Why?", KEYNOTE]
    rec = recognise(columns)
    assert rec.kind == "nps_responses" and rec.complete
    # by header alone the 'recommend' question comes first…
    assert rec.mapping["score"] == ADVICE and rec.mapping["response_date"] == "Timestamp"


def test_values_pick_the_first_question_answered_with_0_to_10():
    data, _ = google_forms_export()
    frame = pd.read_csv(io.BytesIO(data), dtype=str)
    # …with the answers, the text question is dropped: the first 0–10 question wins
    assert candidates("nps_responses", list(frame.columns), frame) == {"score": [EVENT, KEYNOTE, FOOD]}
    mapping = map_columns("nps_responses", list(frame.columns), frame)
    assert mapping["score"] == EVENT and mapping["comment"] == "Why did you give that score?"
    assert mapping["respondent"] == "Email address" and mapping["response_date"] == "Timestamp"


def test_rating_and_recommendation_columns_of_other_kinds_are_not_scores():
    # a lead list's 'Rating' (Hot/Warm/Cold) and an email report's 'Click Rate' stay what they are
    assert "score" not in map_columns("nps_responses", ["Lead ID", "Rating", "Click Rate", "Open Rate"])


def test_nps_page_uses_the_first_question_and_offers_the_others(ws):
    data, scores = google_forms_export()
    dataset = ws.load("event_survey.csv", data, kinds=["nps_responses"])
    assert dataset.ready and dataset.mapping["score"] == EVENT
    assert dataset.candidates == {"score": [EVENT, KEYNOTE, FOOD]}
    assert (f"Score 0–10 read from “{EVENT}”. The file has 2 other columns that fit: “{KEYNOTE}”; “{FOOD}” — "
            "pick one under Columns → Score 0–10.") in dataset.notes
    # Timestamp is day-first (13/06/2021…) and every response has one
    assert ws.con.execute("SELECT count(response_date), min(response_date) FROM nps_responses").fetchone() == \
        (184, pd.Timestamp("2021-06-01 09:00"))
    # switching to the keynote question keeps the note true
    switched = ws.remap("nps_responses", {"score": KEYNOTE})
    assert any(note.startswith(f"Score 0–10 read from “{KEYNOTE}”. The file has 2 other columns that fit: "
                               f"“{EVENT}”; “{FOOD}”") for note in switched.notes)


def test_nps_page_with_a_google_forms_export():
    data, scores = google_forms_export()
    at = fresh_app()
    at.switch_page("app_pages/nps.py").run()
    at.file_uploader(key="upload_nps").set_value(("event_survey.csv", data, "text/csv")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    # the original file's scores: 74 promoters (9–10) and 35 detractors (0–6) of 184 →
    # 100 × (74 − 35) / 184 = 21.2
    assert (sum(s >= 9 for s in scores), sum(s <= 6 for s in scores)) == (74, 35)
    tiles = {m.label: m.value for m in at.metric}
    assert (tiles["NPS"], tiles["Responses"]) == ("21.2", "184")
    assert any(f"Score 0–10 read from “{EVENT}”" in c.value for c in at.caption)
    dataset = at.session_state["workspace"].datasets["nps_responses"]
    at.session_state[columns_key("nps", dataset)] = True  # the Columns panel is built only when open
    at.run()
    digest = dataset.digest[:8]
    box = at.selectbox(key=f"map_nps_nps_responses_{digest}_score")
    assert box.options[:4] == ["— not in file —", EVENT, KEYNOTE, FOOD]  # the 0–10 questions first
