"""ling_compose: typed Ling-2.6-flash serving stacks compiled into Docker Compose files."""

__version__ = "0.1.0"
