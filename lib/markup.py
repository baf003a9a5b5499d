"""Text from a file shown in Streamlit's markdown: `escape_md` makes it render as the text itself.

Streamlit renders markdown in st.markdown, st.caption, st.info/warning/error/success, st.write,
metric and widget labels, help tooltips and radio options. A file name, column name, sheet name,
cell value or error message quoting one can carry `![x](http://host/…)` (the browser fetches the
image from that host), a link, `:red[…]`/`:material/…:` directives or `$…$` maths. Every
file-derived string that reaches markdown goes through this one function. Pure; no Streamlit.

Only what can start markup is escaped, so a plain message reads the same in the page source
("survey.xlsx is not a valid Excel workbook (…)" is unchanged): line breaks become spaces, so
block syntax (headings, lists, quotes, tables) can only start at the very beginning of the text.
"""

from __future__ import annotations

import re

_BREAKS = re.compile(r"[\r\n\t\f\v\u2028\u2029]+")
# Inline markup anywhere: escapes, code, emphasis, strikethrough, links and images ([ ] — the !
# and ( ) do nothing without them), HTML and <autolinks>, entities, $maths$, and a colon that
# opens :red[…], :material/icon: or an emoji shortcode. An underscore inside a word is plain
# text in CommonMark (survey_2025.csv), so only one at a word's edge is escaped.
_INLINE = re.compile(r"[\\`*~\[\]<>&$]|:(?=[A-Za-z_])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
# Block markup, possible only at the start once line breaks are gone: # > - + = | and "1." "1)".
_BLOCK = re.compile(r"^(\s*)([#>+=|-]|\d+[.)])")
# GFM links bare http://… and www.… after escapes are resolved (remark-gfm finds them in the
# text), so a backslash cannot stop them; an invisible word joiner inside the pattern does. An
# address (a@b.c) is left to become a mailto: link: it fetches nothing, and a joiner would travel
# with the address when it is copied.
_AUTOLINK = re.compile(r"(?i)(https?:(?=//)|\bwww(?=\.))")
_JOINER = "\u2060"


def escape_md(value: object) -> str:
    r"""`value` as markdown that shows exactly its text (line breaks as spaces; an invisible word
    joiner, U+2060, after `http:` and `www` so that GFM finds no bare web link).

    >>> escape_md("![x](http://evil.example/a.png)")
    '!\\[x\\](http:\u2060//evil.example/a.png)'
    >>> escape_md("survey_2025 (final).csv"), escape_md("# 1. _draft_")
    ('survey_2025 (final).csv', '\\# 1. \\_draft\\_')
    """
    text = _AUTOLINK.sub(lambda m: m.group(1) + _JOINER, _BREAKS.sub(" ", str(value)))
    text = _INLINE.sub(lambda m: "\\" + m.group(0), text)
    return _BLOCK.sub(lambda m: m.group(1) + m.group(2)[:-1] + "\\" + m.group(2)[-1], text)
