"""Generated flag catalogues (JSON data), one per engine version; see docs/flags.md."""
