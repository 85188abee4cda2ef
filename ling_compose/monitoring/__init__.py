"""Optional monitoring of a served stack: the engines' metrics, Prometheus, Grafana (pure).

metrics     what each pinned engine version exposes on /metrics (names read at its source)
prometheus  the scrape configuration for the stack's server
dashboard   the Grafana dashboard and its provisioning files, per engine
services    the prometheus and grafana Compose services that `render --with-monitoring` adds
"""
