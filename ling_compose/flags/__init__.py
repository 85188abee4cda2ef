"""Engine flags and compose files, checked without running anything: the catalogues of options
each pinned engine version's parser accepts (catalog.py, catalogs/), argv lint against them
(lint.py), tool/reasoning parser names (parsers.py), what Compose v2 refuses (compose_lint.py)
and `validate` of any compose file (validate.py)."""
