"""Render latency: median wall time of `python -m ling_compose render h100-fp8` next to a bare
`python -c "import pydantic, yaml"` on the same machine, and their ratio (`make bench`)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 15


def median_seconds(argv: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    baseline = median_seconds([sys.executable, "-c", "import pydantic, yaml"])
    render = median_seconds([sys.executable, "-m", "ling_compose", "render", "h100-fp8"])
    print(f"import pydantic, yaml         median {baseline * 1000:7.1f} ms over {RUNS} runs")
    print(f"ling_compose render h100-fp8  median {render * 1000:7.1f} ms over {RUNS} runs")
    print(f"ratio                         {render / baseline:7.2f}x")


if __name__ == "__main__":
    main()
