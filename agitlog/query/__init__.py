"""Reading sessions: log, show, replay, diff, checkout, state, search, blame, bisect, compare."""
