"""Streamlit building blocks shared by the pages: the session's workspace, the uploader and
Columns panel, "Show SQL", flags tables and threshold editors. Logic stays in lib/."""
