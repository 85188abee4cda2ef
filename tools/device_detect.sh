#!/usr/bin/env bash
# Real-hardware check for `detect`/`doctor` on the device machine (no network there):
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
# Other people's modules may be mid-edit in the copied tree: if the package does not import
# as a whole, run detect/doctor from a shadow copy holding only what they need.
PY_ROOT=$REPO
if ! python3 -c "import ling_compose.cli" 2>/dev/null; then
  section "ling_compose does not import as a whole here; using a shadow copy (detect/doctor only)"
  (cd "$REPO" && PYTHONPATH=${PYTHONPATH:-} python3 -c "import ling_compose.cli" 2>&1 | tail -1) >>"$LOG"
  S=/tmp/lcshadow/ling_compose
  rm -rf /tmp/lcshadow; mkdir -p "$S/commands"
  cp -r ling_compose/errors.py ling_compose/cli.py ling_compose/__main__.py \
    ling_compose/models ling_compose/catalog ling_compose/hardware "$S/"
  [ -f ling_compose/version.py ] && cp ling_compose/version.py "$S/"
  echo '__version__ = "0.1.0"' >"$S/__init__.py"
  cp ling_compose/commands/detect.py ling_compose/commands/doctor.py "$S/commands/"
  printf 'from ling_compose.commands import detect, doctor\n\nCOMMAND_MODULES = [detect, doctor]\n' \
    >"$S/commands/__init__.py"
  PY_ROOT=/tmp/lcshadow
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PY_ROOT
py() { (cd "$PY_ROOT" && python3 "$@"); }
# = `python3 -m ling_compose ARGS` with detect/doctor registered (see tools/run_lc.py).
lc() { py "$REPO/tools/run_lc.py" "$@"; }
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
from ling_compose.commands.detect import format_table
def no_nvml():
    raise ProbeUnavailable("disabled for this test")
print(format_table(detect_hardware(DetectProbes(nvml=no_nvml))))' >>"$LOG" 2>&1
{
  echo "\$ python3 -m ling_compose doctor --gpus 1 --gpu-type h200 --disk-gb 20 --ram-gb 16 --cuda 13.0 --image vllm/vllm-openai:v0.33.0"
  lc doctor --gpus 1 --gpu-type h200 --disk-gb 20 --ram-gb 16 --cuda 13.0 --image vllm/vllm-openai:v0.33.0; echo "[exit $?]"
  echo
  echo "\$ python3 -m ling_compose doctor --gpus 2 --gpu-type h200 --disk-gb 400 --ram-gb 500 --cuda 13.1"
  lc doctor --gpus 2 --gpu-type h200 --disk-gb 400 --ram-gb 500 --cuda 13.1; echo "[exit $?]"
} >"$OUT/doctor.txt" 2>&1
section "doctor --gpu-type h200 --json"; lc doctor --gpu-type h200 --json >>"$LOG" 2>&1; echo "[exit $?]" >>"$LOG"
ls -la "$OUT" >>"$LOG"
cat "$OUT/detect.txt" "$OUT/doctor.txt"
