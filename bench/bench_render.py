"""Render latency (`make bench`): the median wall time of `python -m ling_compose render h100-fp8`
beside the least any such program pays (import pydantic and PyYAML, define one strict model,
dump one document), measured in the same run, interleaved, and their ratio. Goal: <= 1.3x.

The machine may be shared and noisy: each figure is a median of RUNS starts, and the two
commands alternate so that a busy spell slows both. Beside the wall time, the CPU time each
start used (user + system, from the kernel's accounting of the child) is printed: other
programs' load lengthens the wall time, far less the CPU time. `python bench/bench_render.py 41`
for more runs.

Wall and CPU time still swing by a tenth of the ratio between runs on a shared machine. Where
valgrind is installed, the instructions each program executes are counted too (cachegrind, no
cache simulation): a count that is the same on every run, so a change to the render path shows
as a change of this figure even when the timings hide it.

The package's bytecode is compiled first, as an installed package has it: where
PYTHONDONTWRITEBYTECODE is set (as on the machines here) each start would otherwise compile every
module it imports from source, a cost no user of an installed ling_compose pays.
"""

from __future__ import annotations

import compileall
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 21
GOAL = 1.3
# What every program that validates one strict model and writes YAML does, and no more.
BASELINE = """
from pydantic import BaseModel, ConfigDict
import yaml

class Service(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    image: str
    port: int = 8000

print(yaml.safe_dump(Service(image="vllm/vllm-openai:v0.33.0").model_dump(), sort_keys=False))
"""
RENDER = [sys.executable, "-m", "ling_compose", "render", "h100-fp8"]


def _seconds(argv: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of `argv`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _instructions(argv: list[str]) -> int:
    """Instructions one run of `argv` executes, as valgrind's cachegrind counts them."""
    valgrind = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
    ]
    done = subprocess.run([*valgrind, *argv], check=True, capture_output=True, text=True)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if found is None:
        raise RuntimeError("valgrind printed no instruction count:\n" + done.stderr[-500:])
    return int(found.group(1).replace(",", ""))


def main(runs: int = RUNS) -> None:
    import ling_compose

    compileall.compile_dir(Path(ling_compose.__file__).parent, quiet=1)
    baseline_argv = [sys.executable, "-c", BASELINE]
    _seconds(baseline_argv), _seconds(RENDER)  # warm the page cache, unmeasured
    baseline, render = [], []
    for _ in range(runs):
        baseline.append(_seconds(baseline_argv))
        render.append(_seconds(RENDER))
    print(f"medians of {runs} runs each, alternating    wall ms   CPU ms")
    rows = (
        ("pydantic + yaml, one strict model, one dump", baseline),
        ("ling_compose render h100-fp8", render),
    )
    medians = {}
    for label, runs_of in rows:
        medians[label] = [statistics.median(run[i] for run in runs_of) for i in (0, 1)]
        wall, cpu = medians[label]
        print(f"{label:<44} {wall * 1000:7.1f}  {cpu * 1000:7.1f}")
    (base_wall, base_cpu), (wall, cpu) = medians.values()
    print(
        f"{'ratio (goal <= ' + str(GOAL) + 'x)':<44} {wall / base_wall:6.2f}x  {cpu / base_cpu:6.2f}x"
    )
    if shutil.which("valgrind") is None:
        print("instructions: valgrind is not installed (apt-get install valgrind): not counted")
        return
    base_count, render_count = _instructions(baseline_argv), _instructions(RENDER)
    print(f"{'instructions, one run each (valgrind)':<44} {'baseline':>9} {'render':>9}  ratio")
    print(
        f"{'':<44} {base_count / 1e6:8.1f}M {render_count / 1e6:8.1f}M  {render_count / base_count:5.2f}x"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else RUNS)
