"""Reports a person would rather look at than read: charts (PNG bytes) and one HTML page.

Pure: :func:`scoring.reports.html.build_report` returns the HTML text and the PNGs; the CLI
(``leadscore report``) writes them.
"""

__all__: list[str] = []
