"""`detect`: print the GPUs and host RAM found here, mapped onto the catalogue (exit 5: none)."""

from __future__ import annotations

import argparse

from ling_compose.cli.table import print_json
from ling_compose.hardware.detect import DetectedHardware, detect_hardware


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "detect",
        help="detect the GPUs and host RAM here (NVML, else nvidia-smi)",
        description="Detect GPUs through NVML (extra `nvml`) or nvidia-smi, map them onto the "
        "GPU catalogue and read host RAM. Exit code 5 when no GPU is found.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    hardware = detect_hardware()
    if args.json:
        print_json(hardware.summary())
    else:
        print(format_table(hardware))
    return 0


def _gib(value: float) -> str:
    return f"{value:.1f} GiB"


def format_table(hardware: DetectedHardware) -> str:
    """The human-readable report: one row per GPU, then groups, driver, RAM and notes."""
    header = ("GPU", "NAME", "MEMORY", "CC", "CATALOGUE", "BANDWIDTH", "SMEM/BLOCK")
    rows = [header]
    for gpu in hardware.gpus:
        bandwidth = (
            f"{gpu.memory_bandwidth_gbs:.0f} GB/s"
            + (" (est.)" if gpu.bandwidth_source == "estimated" else "")
            if gpu.memory_bandwidth_gbs is not None
            else "unknown"
        )
        smem = (
            f"{gpu.max_shared_memory_per_block_kb} KB"
            if gpu.max_shared_memory_per_block_kb is not None
            else "unknown"
        )
        rows.append(
            (
                str(gpu.index),
                gpu.name,
                _gib(gpu.memory_gib),
                gpu.compute_capability or "?",
                gpu.catalogue_key or f"(unknown: {gpu.group_key})",
                bandwidth,
                smem,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    groups = ", ".join(f"{g.count}x {g.key}" for g in hardware.groups)
    lines.append("")
    lines.append(
        f"GPUs:     {hardware.count} ({groups}){' - mixed host' if hardware.is_mixed else ''}"
    )
    cuda = (
        f"CUDA {hardware.cuda_driver_version} (from {hardware.cuda_driver_version_source})"
        if hardware.cuda_driver_version
        else "CUDA version unknown"
    )
    lines.append(f"Driver:   {hardware.driver_version}, {cuda}")
    ram = f"{hardware.host_ram_gib:.1f} GiB" if hardware.host_ram_gib is not None else "unknown"
    lines.append(f"Host RAM: {ram}")
    lines.append(f"Source:   {hardware.source}")
    notes = [*hardware.notes, *(f"GPU {g.index}: {n}" for g in hardware.gpus for n in g.notes)]
    for note in notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)
