"""The bundled sample exports (made by sample_data/generate.py) and the kind each one is."""

from __future__ import annotations

from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sample_data"

# kind → file name in sample_data/
SAMPLE_FILES: dict[str, str] = {
    "email_campaigns": "email_campaigns.csv",
    "email_events": "email_events.csv",
    "in_app_events": "in_app_events.csv",
    "nps_responses": "nps_responses.xlsx",
    "subscriptions": "subscriptions.csv",
    "incidents": "incidents.csv",
    "leads": "leads.xlsx",
    "campaign_costs": "campaign_costs.csv",
    "activity": "activity_events.csv",
    "texts": "community_posts.csv",
    "deals": "deals.csv",
    "campaign_calendar": "campaign_calendar.csv",
}


def load_samples(workspace, kinds: list[str] | None = None) -> list[str]:
    """Load the sample file of each kind (all by default) into the workspace; returns kinds loaded."""
    loaded = []
    for kind, name in SAMPLE_FILES.items():
        if kinds is not None and kind not in kinds:
            continue
        path = SAMPLE_DIR / name
        if path.exists():
            workspace.load(name, path.read_bytes(), kind=kind)
            loaded.append(kind)
    return loaded
