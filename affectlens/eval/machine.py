"""What machine a benchmark ran on, and what it cost in CPU time as well as wall time.

A figure without its machine cannot be reproduced (issue 16: the README's speed figures were
16 times off on another Xeon, and nobody could say why). Every benchmark opens with
``machine_report()``, which prints the CPU model and the instruction sets the kernels choose
by, the cores this process may use, the ONNX Runtime and numpy/OpenBLAS versions and thread
settings, and the load average; at the end it prints the load average again and the process's
CPU time beside its wall time.

CPU time (user + system, this process and the child processes it waited for) is the figure of
record: on a shared machine wall time grows with everybody else's work, CPU time much less.
``Stopwatch`` measures both for one stretch of code.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# Instruction sets that decide which kernels ONNX Runtime (MLAS) and OpenBLAS run, and so
# how fast a model is; AMX and AVX-512 machines also pay far more for denormal numbers.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")
# Environment variables that set thread counts in one library or another.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "ORT_NUM_THREADS")


@dataclass(frozen=True)
class Usage:
    """Seconds one stretch of code took: wall clock and CPU (all threads, waited children)."""

    wall_s: float
    cpu_s: float

    @property
    def cores(self) -> float:
        """CPU seconds per wall second: about the cores the code kept busy."""
        return self.cpu_s / self.wall_s if self.wall_s > 0 else float("nan")


class Stopwatch:
    """Wall and CPU time since it was made (or last ``restart``)."""

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        self._wall, self._cpu = time.perf_counter(), cpu_seconds()

    def elapsed(self) -> Usage:
        return Usage(time.perf_counter() - self._wall, cpu_seconds() - self._cpu)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (every thread) and of its waited-for children.

    Worker processes that are not this process's children (e.g. started by a fork server)
    are not included: measure those from /proc, as benchmarks/camera_capacity.py does.
    """
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass(frozen=True)
class Machine:
    """The facts about a machine and runtime that a speed figure depends on."""

    cpu_model: str
    isa: tuple[str, ...]
    cores: int
    usable_cores: int
    python: str
    onnxruntime: str
    ort_providers: tuple[str, ...]
    numpy: str
    blas: str
    thread_env: tuple[tuple[str, str], ...]
    load: tuple[float, float, float]

    def lines(self) -> list[str]:
        env = ", ".join(f"{k}={v}" for k, v in self.thread_env) or "no thread variables set"
        return [
            f"machine: {self.cpu_model} ({', '.join(self.isa) or 'no AVX2'}); "
            f"{self.cores} logical cores, {self.usable_cores} usable by this process",
            f"runtime: Python {self.python}, onnxruntime {self.onnxruntime} "
            f"({', '.join(self.ort_providers)}), numpy {self.numpy}, {self.blas}; {env}",
            f"load average at start: {_load(self.load)}",
        ]


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), else all the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def describe() -> Machine:
    """The machine this process runs on, read now."""
    import numpy as np
    import onnxruntime as ort

    return Machine(
        cpu_model=cpu_model(),
        isa=tuple(flag for flag in ISA_FLAGS if flag in _cpu_flags()),
        cores=os.cpu_count() or 0,
        usable_cores=usable_cores(),
        python=platform.python_version(),
        onnxruntime=ort.__version__,
        ort_providers=tuple(ort.get_available_providers()),
        numpy=np.__version__,
        blas=blas(),
        thread_env=tuple((k, os.environ[k]) for k in THREAD_ENV if k in os.environ),
        load=os.getloadavg(),
    )


@contextmanager
def machine_report(out: object = None) -> Iterator[Machine]:
    """Print the machine before the body and the load average, wall and CPU time after it.

    Usable as ``with machine_report():`` or as a decorator ``@machine_report()`` on a
    benchmark's ``main``. ``out`` is a text stream (default: stdout).
    """
    stream = out if out is not None else sys.stdout
    machine = describe()
    for line in machine.lines():
        print(line, file=stream, flush=True)
    watch = Stopwatch()
    try:
        yield machine
    finally:
        used = watch.elapsed()
        print(f"load average at end: {_load(os.getloadavg())}; this run: CPU {used.cpu_s:.1f} s "
              f"(this process and its waited-for children), wall {used.wall_s:.1f} s, "
              f"{used.cores:.2f} cores busy on average", file=stream, flush=True)


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo, else what platform says."""
    for line in _cpuinfo().splitlines():
        if line.startswith(("model name", "Model", "Hardware")) and ":" in line:
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def blas() -> str:
    """numpy's BLAS: name, version, the kernel it chose for this CPU and its threads."""
    import numpy as np

    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        name = f"{info.get('name', 'BLAS')} {info.get('version', '')}".strip()
    except Exception:  # numpy's config layout is not a stable API: describe what we can
        name = "BLAS (unknown)"
    library = _openblas()
    if library is None:
        return name
    core = library["corename"]().decode() if library["corename"] else "?"
    threads = library["threads"]() if library["threads"] else "?"
    return f"{name} (kernel {core}, {threads} threads)"


def _openblas() -> dict | None:
    """numpy's loaded OpenBLAS (its thread-count and kernel-name functions), if any."""
    paths = sorted({line.split()[-1] for line in _maps()
                    if "openblas" in line.split()[-1].lower() and ".so" in line.split()[-1]})
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        found: dict = {"threads": None, "corename": None}
        for prefix, suffix in (("scipy_openblas", "64_"), ("openblas", "64_"), ("openblas", "")):
            threads = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            corename = getattr(lib, f"{prefix}_get_corename{suffix}", None)
            if threads is not None:
                found["threads"] = threads
                if corename is not None:
                    corename.restype = ctypes.c_char_p
                    found["corename"] = corename
                return found
    return None


def _maps() -> list[str]:
    try:
        return Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return []


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def _cpu_flags() -> set[str]:
    for line in _cpuinfo().splitlines():
        if line.startswith(("flags", "Features")) and ":" in line:
            return set(line.split(":", 1)[1].split())
    return set()


def _load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{v:.2f}" for v in load) + " (1, 5, 15 min)"
