"""AppTest helpers shared by the page tests: a fresh app, and one on a page with the sample data."""

from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def fresh_app(timeout: float = 120) -> AppTest:
    """The app as a new visitor sees it (caches cleared), run once."""
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    assert not at.exception, at.exception
    return at


def sample_page(page: str) -> AppTest:
    """A fresh app with the sample data loaded from Home, switched to `page` (e.g. "app_pages/nps.py")."""
    at = fresh_app()
    at.button(key="sample_home").click().run()
    assert not at.exception, at.exception
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at
