"""The host's GPUs and readiness: probes (NVML, nvidia-smi), detect (-> the GPU catalogue), CUDA
facts, and doctor's pre-flight checks (hardware/preflight.py). Import the modules themselves:
this package imports none of them, so that a module needing only the CUDA table loads no probe."""
