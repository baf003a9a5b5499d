"""Altair chart builders over metric frames. One module per page area; shared pieces in `common`.

Builders return `alt.Chart` objects (tests check `chart.to_dict()`); they never run SQL.
"""
