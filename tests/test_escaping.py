"""Markdown from uploads is shown as text (lib.markup.escape_md): a file name, column name or bad
cell that holds `![x](http://host/…)` must not make the browser fetch from that host, nor become a
link, a heading or a coloured directive. Checked here structurally and on the pages with AppTest
(the markdown values hold the escaped text); Streamlit's own renderer is checked in a real browser
in tests/browser/test_upload_abuse.py (no <img>, no link, no request to the host)."""

from __future__ import annotations

import re
import string

from hypothesis import given
from hypothesis import strategies as st

from lib.markup import escape_md
from tests.apptest import fresh_app

IMAGE = "![x](http://evil.example/leak.png?c=1)"


def unescaped(markdown: str) -> str:
    """What a reader sees of escaped text: each \\c is the character c; the word joiner (U+2060)
    that stops GFM's bare links is invisible."""
    return re.sub(r"\\(.)", r"\1", markdown, flags=re.DOTALL).replace("\u2060", "")


def active_markup(markdown: str) -> list[str]:
    """Markup left without a backslash: inline characters anywhere, a colon before a letter
    (:red[…], :material/…:), an underscore at a word's edge, a block marker at the start."""
    bare = re.sub(r"\\.", "\0", markdown, flags=re.DOTALL)  # escaped characters masked
    found = re.findall(r"[\\`*~\[\]<>&$]|:(?=[A-Za-z_])|(?<![0-9A-Za-z\0])_|_(?![0-9A-Za-z\0])", bare)
    if re.match(r"\s*([#>+=|-]|\d+[.)])", bare):
        found.append("block at start")
    return found


def test_image_link_and_directives_are_escaped():
    assert escape_md(IMAGE) == "!\\[x\\](http:\u2060//evil.example/leak.png?c=1)"
    # bare links GFM would find after the escapes are resolved are broken by an invisible joiner
    assert escape_md("see www.evil.example or HTTPS://x") == "see www\u2060.evil.example or HTTPS:\u2060//x"
    assert escape_md("ana@x.example") == "ana@x.example"  # an address may become mailto:, copied as is
    assert escape_md(":red[alarm] :material/warning: $x$") == r"\:red\[alarm\] \:material/warning: \$x\$"
    assert escape_md("a\nb\r\n# not a heading") == "a b # not a heading"  # one line: no heading
    assert escape_md("# 1. _draft_ **b** `c` <d> ~~e~~ &amp;") == r"\# 1. \_draft\_ \*\*b\*\* \`c\` \<d\> \~\~e\~\~ \&amp;"
    assert escape_md("2025. Report") == r"2025\. Report"  # not an ordered list
    # a plain message reads the same in the page source
    plain = "survey_2025.xlsx is not a valid Excel workbook (it may be damaged). Columns are: a, b-c."
    assert escape_md(plain) == plain


@given(st.text(alphabet=string.printable + "äß€👍\u212a\u2028", max_size=60))
def test_any_text_shows_as_itself_and_leaves_no_markup_active(text):
    out = escape_md(text)
    assert active_markup(out) == []
    assert "\n" not in out and "\r" not in out
    assert unescaped(out) == re.sub(r"[\r\n\t\f\v\u2028\u2029]+", " ", text).replace("\u2060", "")
    seen_by_gfm = re.sub(r"\\(.)", r"\1", out, flags=re.DOTALL)  # escapes resolved, joiners kept
    assert not re.search(r"(?i)https?://|\bwww\.", seen_by_gfm)


def _values(at, *kinds) -> list[str]:
    return [e.value for kind in kinds for e in getattr(at, kind)]


def test_file_name_column_name_and_bad_cell_are_escaped_on_the_pages():
    at = fresh_app()
    at.switch_page("app_pages/email.py").run()
    emails = ("Campaign,Send date,Sent,Delivered,Opens,Clicks\n"
              "A,2025-01-06,100,98,20,3\n"
              f"B,2025-01-13,{IMAGE},118,25,4\n"
              "C,2025-01-20,130,128,30,5\n").encode()
    name = "![f](http:evil.example/f.png).csv"
    at.file_uploader(key="upload_email").set_value((name, emails, "text/csv")).run()
    assert not at.exception, at.exception
    shown = _values(at, "markdown", "caption", "error", "warning", "info")
    assert any(escape_md(name) in v for v in shown)                       # the caption names the file
    assert any(escape_md(f"'{IMAGE}'") in v for v in shown)               # the bad-cell example
    at.switch_page("app_pages/nps.py").run()
    survey = ("Date,Email,Score," + IMAGE.replace(",", "") + ",Comment\n"
              "2025-01-06,a@x.example,9,3,fine\n2025-01-07,b@x.example,4,8,meh\n"
              "2025-01-08,c@x.example,10,10,great\n").encode()
    at.file_uploader(key="upload_nps").set_value(("survey.csv", survey, "text/csv")).run()
    assert not at.exception, at.exception
    shown += _values(at, "markdown", "caption", "error", "warning", "info")
    assert any(escape_md(IMAGE.replace(",", "")) in v for v in shown)     # the other 0–10 column
    for value in shown:  # nowhere is there an unescaped image or link
        bare = re.sub(r"\\.", "", value)  # escaped characters taken out
        assert "![" not in bare and "](" not in bare, value


def test_an_upload_error_quoting_the_file_is_escaped():
    at = fresh_app()
    at.switch_page("app_pages/nps.py").run()
    at.file_uploader(key="upload_nps").set_value(
        ("![e](http://evil.example/e.png).xlsx", b"not a workbook at all",
         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")).run()
    assert not at.exception, at.exception
    assert at.error and at.error[0].value.startswith(escape_md("![e](http://evil.example/e.png).xlsx"))
