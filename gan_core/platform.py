"""What a run's numbers depend on beside its config and seed: torch's version and the
kernels it dispatches to. The same MLP GAN trained with MKL on its AVX-512 path and on its
AVX2 path reads objective 30.7 vs 33.4 at step 1500 and 11.7 vs 21.4 at step 5000: a GAN
grows a last-bit difference into another run, so a trial reproduces bit for bit only where
the kernels are the same (docs/design.md, "Reproducing a trial")."""

from __future__ import annotations

import functools
import os
import platform

import torch

# Environment variables that choose other CPU kernels than the machine's best (MKL's
# instruction set, its conditional numerical reproducibility mode, ATen's vector unit).
KERNEL_ENV = ("MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR", "ATEN_CPU_CAPABILITY")


def platform_name(device: torch.device | str) -> str:
    """`torch 2.13.0+cpu, cpu Intel(R) Xeon(R) Processor AVX512` (plus any KERNEL_ENV set),
    or `torch 2.11.0+cu128, cuda NVIDIA H200`."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"torch {torch.__version__}, cuda {torch.cuda.get_device_name(device)}"
    cpu = f"cpu {cpu_model()} {torch.backends.cpu.get_cpu_capability()}"
    pinned = [f"{key}={os.environ[key]}" for key in KERNEL_ENV if os.environ.get(key)]
    return ", ".join([f"torch {torch.__version__}", cpu, *pinned])


@functools.cache  # read once per process: trials report it at every eval point
def cpu_model() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), else what Python's platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
