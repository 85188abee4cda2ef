"""Record what one GPU really offers the planner, as JSON: memory as nvidia-smi, NVML and CUDA
report it, and the read / copy bandwidth a plain streaming kernel reaches.

Run on the GPU host (needs torch with CUDA; nvidia-ml-py and nvidia-smi when present):
    python3 tools/gpu_capture.py --out tests/fixtures/gpus/h200-1x-real/capture.json

Why each figure: vLLM's --gpu-memory-utilization is a fraction of the total CUDA reports
(torch.accelerator.get_memory_info, vllm/utils/mem_utils.py MemorySnapshot), not of NVML's total
or the datasheet; bandwidth ceilings need the bandwidth a kernel can reach, not the datasheet's.
Independent of ling_compose on purpose: it must run where the package is not installed.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from typing import Any

import torch

GIB = 1024**3
SMI_FIELDS = "index,name,memory.total,memory.used,driver_version"


def nvidia_smi() -> list[dict[str, str]] | str:
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={SMI_FIELDS}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as err:
        return f"<error: {err}>"
    keys = SMI_FIELDS.split(",")
    return [
        dict(zip(keys, (v.strip() for v in line.split(",")), strict=True))
        for line in out.splitlines()
    ]


def nvml(index: int) -> dict[str, Any] | str:
    try:
        import pynvml  # type: ignore[import-untyped,import-not-found,unused-ignore]

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
        name = pynvml.nvmlDeviceGetName(handle)
        return {
            "name": name.decode() if isinstance(name, bytes) else name,
            "memory_total_bytes": int(mem.total),
            "memory_used_bytes": int(mem.used),
            "memory_free_bytes": int(mem.free),
            "driver_version": str(pynvml.nvmlSystemGetDriverVersion()),
        }
    except Exception as err:  # record why, keep the rest of the capture
        return f"<error: {err}>"


def _seconds(fn: Any, repeats: int) -> list[float]:
    """Wall time of each call, measured with CUDA events after two warm-up calls."""
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1000.0)
    return times


def bandwidth(gib: float, repeats: int) -> dict[str, Any]:
    """Read: sum of a bf16 tensor (bytes read once). Copy: clone (bytes read + bytes written)."""
    n = int(gib * GIB) // 2
    x = torch.ones(n, dtype=torch.bfloat16, device="cuda")
    nbytes = x.numel() * x.element_size()
    read = _seconds(lambda: x.sum(dtype=torch.float32), repeats)
    out: dict[str, Any] = {
        "tensor_bytes": nbytes,
        "read_kernel": "torch.sum(bf16 tensor, dtype=float32)",
        "read_seconds": read,
        "read_gb_s_best": nbytes / min(read) / 1e9,
        "read_gb_s_median": nbytes / sorted(read)[len(read) // 2] / 1e9,
    }
    y = torch.empty_like(x)
    copy = _seconds(lambda: y.copy_(x), repeats)
    out.update(
        {
            "copy_kernel": "Tensor.copy_ (bytes counted: read + write)",
            "copy_seconds": copy,
            "copy_gb_s_best": 2 * nbytes / min(copy) / 1e9,
            "copy_gb_s_median": 2 * nbytes / sorted(copy)[len(copy) // 2] / 1e9,
        }
    )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", type=int, default=0)
    ap.add_argument("--gib", type=float, default=32.0, help="tensor size for the bandwidth runs")
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    record: dict[str, Any] = {
        "captured_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "tool": "tools/gpu_capture.py",
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "nvidia_smi": nvidia_smi(),
        "nvml": nvml(args.device),
    }
    torch.cuda.set_device(args.device)
    # The first CUDA call creates the context; mem_get_info then says what a server would see.
    free, total = torch.cuda.mem_get_info(args.device)
    props = torch.cuda.get_device_properties(args.device)
    record["cuda"] = {
        "name": props.name,
        "compute_capability": f"{props.major}.{props.minor}",
        "mem_get_info_total_bytes": int(total),
        "mem_get_info_free_bytes": int(free),
        "device_properties_total_memory_bytes": int(props.total_memory),
        "note": "free is after this process's CUDA context was created",
    }
    record["bandwidth"] = bandwidth(args.gib, args.repeats)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=2)
        fh.write("\n")
    print(json.dumps({k: record[k] for k in ("nvidia_smi", "nvml", "cuda")}, indent=2))
    bw = record["bandwidth"]
    print(f"read {bw['read_gb_s_best']:.0f} GB/s best, copy {bw['copy_gb_s_best']:.0f} GB/s best")
    return 0


if __name__ == "__main__":
    sys.exit(main())
