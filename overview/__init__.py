"""The portal's top floor: the overview page, lag history, /metrics and the health checks.

It reads every other app and no other app imports it (opsportal/urls.py names it).
"""
