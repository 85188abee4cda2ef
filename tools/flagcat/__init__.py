"""flagcat: generate, diff and verify the engines' flag catalogues (developer tool, not shipped).

`python -m tools.flagcat generate|diff|affected|verify ...`; see docs/flags.md.
"""
