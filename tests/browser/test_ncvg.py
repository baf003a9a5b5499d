"""NCVG in a real browser: upload a Stripe-shaped subscriptions export and read the headline tiles."""

import pytest

from tests.browser.conftest import metric_value, open_page, upload

pytestmark = pytest.mark.browser

# Stripe's subscription export columns. Worked by hand (as-of = latest start = 2025-05-02):
#   cus_1 starter 29/month from Jan (new, 29) and adds pro 79 in May (expansion, not new)
#   cus_2 pro-annual 790/year × 2 seats = 1580/12 = 131.67/month from Jan (new)
#   cus_3 pro 79/month Feb → ended 2025-04-03 (new 79, lost 79)
#   cus_4 27 EUR (another currency: left out of the USD tiles)
#   cus_5 pro 79 × 2 = 158 from March, cancellation scheduled for 2025-07-31 (after the as-of date: not lost)
#   cus_6 trial that ended at its trial end (never paid: not a customer)
# New customers 4, lost 1, net +3; new value 29 + 131.67 + 79 + 158 = 397.67, lost 79, net 318.67.
STRIPE_EXPORT = """id,Customer ID,Customer Email,Plan,Product,Quantity,Currency,Interval,Amount,Status,Created (UTC),Start (UTC),Trial Start (UTC),Trial End (UTC),Canceled At (UTC),Ended At (UTC)
sub_1,cus_1,ana@example.com,starter-monthly,Acme Starter,1,usd,month,29.00,active,2025-01-06 10:00,2025-01-06 10:00,,,,
sub_2,cus_2,ben@example.com,pro-annual,Acme Pro,2,usd,year,790.00,active,2025-01-20 10:00,2025-01-20 10:00,,,,
sub_3,cus_3,cy@example.com,pro-monthly,Acme Pro,1,usd,month,79.00,canceled,2025-02-03 10:00,2025-02-03 10:00,,,2025-03-20 10:00,2025-04-03 10:00
sub_4,cus_4,dee@example.com,starter-monthly,Acme Starter,1,eur,month,27.00,active,2025-02-10 10:00,2025-02-10 10:00,,,,
sub_5,cus_5,eli@example.com,pro-monthly,Acme Pro,2,usd,month,79.00,active,2025-03-01 10:00,2025-03-01 10:00,,,2025-04-20 10:00,2025-07-31 00:00
sub_6,cus_6,fay@example.com,starter-monthly,Acme Starter,1,usd,month,29.00,canceled,2025-04-01 10:00,2025-04-01 10:00,2025-04-01 10:00,2025-04-15 10:00,2025-04-15 10:00,2025-04-15 10:00
sub_7,cus_1,ana@example.com,pro-monthly,Acme Pro,1,usd,month,79.00,active,2025-05-02 10:00,2025-05-02 10:00,,,,
"""


def test_stripe_export_tiles(page, app_url, tmp_path):
    path = tmp_path / "subscriptions_stripe.csv"
    path.write_text(STRIPE_EXPORT)
    open_page(page, app_url, "ncvg")
    upload(page, path)
    assert metric_value(page, "New customers") == "4"
    assert metric_value(page, "Lost customers") == "1"
    assert metric_value(page, "Net customers") == "+3"
    assert metric_value(page, "New value") == "$398"
    assert metric_value(page, "Lost value") == "$79"
    assert metric_value(page, "Net value") == "+$319"
    assert metric_value(page, "Cancellations scheduled after the as-of date") == "1"
    body = page.locator("[data-testid='stMain']").inner_text()
    assert "1 row(s) left out: 1 in EUR" in body
    assert "In Apr 2025 we gained 0 customers worth $0 MRR and lost 1 worth $79" in body


# A CRM account-MRR snapshot table (churned accounts drop out of later snapshots). Worked by hand,
# snapshots rule (the default without a movement-type column), USD, as-of 2025-04-01:
#   acc_1 100 Jan–Apr, 130 from Mar (expansion +30)   acc_2 80 Jan–Feb, missing in Mar (churn −80)
#   acc_3 60 from Feb (new)   acc_4 40 EUR (other currency, left out)
# New customers 3 (acc_1, acc_2 in Jan; acc_3 in Feb) worth 240; lost 1 worth 80; net +2 and +$160.
SNAPSHOT_EXPORT = """Account ID,Account Name,Snapshot Date,MRR,Plan,Currency
acc_1,Acme,2025-01-01,100,Pro,USD
acc_2,Bolt,2025-01-01,80,Starter,USD
acc_4,Cafe,2025-01-01,40,Starter,EUR
acc_1,Acme,2025-02-01,100,Pro,USD
acc_2,Bolt,2025-02-01,80,Starter,USD
acc_3,Dune,2025-02-01,60,Starter,USD
acc_1,Acme,2025-03-01,130,Business,USD
acc_3,Dune,2025-03-01,60,Starter,USD
acc_1,Acme,2025-04-01,130,Business,USD
acc_3,Dune,2025-04-01,60,Starter,USD
"""


def test_value_history_snapshot_tiles(page, app_url, tmp_path):
    path = tmp_path / "account_mrr_snapshots.csv"
    path.write_text(SNAPSHOT_EXPORT)
    open_page(page, app_url, "ncvg")
    upload(page, path)
    assert metric_value(page, "New customers") == "3"
    assert metric_value(page, "Lost customers") == "1"
    assert metric_value(page, "Net customers") == "+2"
    assert metric_value(page, "New value") == "$240"
    assert metric_value(page, "Lost value") == "$80"
    assert metric_value(page, "Net value") == "+$160"
    body = page.locator("[data-testid='stMain']").inner_text()
    assert "Customer value history" in body and "missing from the next date in the file" in body
    assert "1 row(s) left out: 1 in EUR" in body
    page.get_by_text("Where the value came from and went").scroll_into_view_if_needed()
    page.wait_for_timeout(800)
    page.screenshot(path=str(tmp_path / "ncvg_value_history.png"))  # to look at: the bridge 0 → 190
