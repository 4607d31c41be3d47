"""Date and time formats of the portal: every time an operator reads says its zone (TIME_ZONE, UTC).

Django's English formats ("Dec. 1, 2026, 9:05 p.m.") say none, so a time read beside a broker
log or a Grafana panel in another zone was ambiguous.
"""

DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s"
