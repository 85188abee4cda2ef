#!/usr/bin/env bash
# Real-hardware check for `detect`, `recommend`, `plan`, `doctor` and `render auto` on the device machine (no network there):
# installs carried wheels (.whl) if any, captures raw NVML / nvidia-smi outputs as fixtures,
# and runs the commands. Writes at most 8 files into $OUT (the device tool's limit).
set -u
OUT=${OUT:-/tmp/device-detect}
REPO=$PWD
mkdir -p "$OUT"
LOG="$OUT/log.txt"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"; echo "uname: $(uname -a)"; echo "nproc: $(nproc)"
  echo "python3: $(command -v python3) $(python3 --version 2>&1)"
} >"$LOG"
section() { printf '\n===== %s\n' "$*" >>"$LOG"; }
# Wheels only where pydantic is missing (the device image lacks it; see KINDS.md).
if ! python3 -c "import pydantic" 2>/dev/null && compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$REPO
py() { python3 "$@"; }
lc() { python3 -m ling_compose "$@"; }
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1
nvidia-smi --query-gpu=index,name,memory.total,compute_cap,driver_version,uuid \
  --format=csv,noheader,nounits >"$OUT/nvidia-smi-query.csv" 2>>"$LOG"
section "nvidia-smi --help-query-gpu (the fields detect queries)"
nvidia-smi --help-query-gpu | grep -E '^"(index|name|memory\.total|compute_cap|driver_version|uuid)"' >>"$LOG" 2>&1
section "nvidia-smi -q (excerpt)"
nvidia-smi -q | sed -n '1,12p' >>"$LOG" 2>&1
section "/proc/meminfo (head)"; head -3 /proc/meminfo >>"$LOG"
section "df -h / (free disk)"; df -h / >>"$LOG" 2>&1
section "docker / container toolkit on PATH"
for b in docker nvidia-container-runtime-hook nvidia-container-toolkit nvidia-ctk; do
  echo "$b: $(command -v $b || echo absent)"; done >>"$LOG"
section "pip show nvidia-ml-py pydantic"
python3 -m pip show nvidia-ml-py pydantic 2>&1 | grep -E '^(Name|Version|Location)' >>"$LOG"
py "$REPO/tools/nvml_dump.py" >"$OUT/nvml-dump.json" 2>>"$LOG"
py -c 'import json,sys; from ling_compose.hardware.nvml import read_nvml; json.dump(read_nvml(), sys.stdout, indent=2); print()' \
  >"$OUT/probe-nvml.json" 2>>"$LOG"
section "torch cross-check (shared memory per block opt-in, capability, memory)"
python3 -c 'import torch; p=torch.cuda.get_device_properties(0); print(p.name, "cc", f"{p.major}.{p.minor}", "total_memory", p.total_memory, "smem_per_block_optin", p.shared_memory_per_block_optin, "=", p.shared_memory_per_block_optin/1024, "KB; SMs", p.multi_processor_count)' >>"$LOG" 2>&1
{ echo "\$ python3 -m ling_compose detect"; lc detect; echo "[exit $?]"; } >"$OUT/detect.txt" 2>&1
lc detect --json >"$OUT/detect.json" 2>>"$LOG"; echo "detect --json exit $?" >>"$LOG"
section "detect through the nvidia-smi fallback (NVML probe forced unavailable)"
py -c 'from ling_compose.hardware.detect import DetectProbes, detect_hardware
from ling_compose.hardware.raw import ProbeUnavailable
from ling_compose.cli.detect import format_table
def no_nvml():
    raise ProbeUnavailable("disabled for this test")
print(format_table(detect_hardware(DetectProbes(nvml=no_nvml))))' >>"$LOG" 2>&1
{
  for cmd in "recommend" "recommend --all" "plan h200-fp8" "plan h200-fp8 --context-length 262144 --concurrency 64" "doctor h200-fp8"; do
    echo "\$ python3 -m ling_compose $cmd"; lc $cmd; echo "[exit $?]"; echo
  done
  echo "\$ python3 -m ling_compose render auto | head -30"; lc render auto | head -30; echo
} >"$OUT/plan.txt" 2>&1
ls -la "$OUT" >>"$LOG"
cat "$OUT/detect.txt" "$OUT/plan.txt"
