"""Create, edit and retire lab records from the web UI (samples, runs, recipes, chemicals…).

``editor`` holds the page plumbing (service errors beside the fields they name, stale-version
conflicts), ``forms`` the shape-only forms of each record kind, ``views`` the thin views.
"""
