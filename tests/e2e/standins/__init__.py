"""Stand-in backend images for the e2e tests (see build.py)."""
