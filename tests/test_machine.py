"""The machine report every benchmark prints (issue 16): what it names and what it measures."""

from __future__ import annotations

import io
import subprocess
import sys
import time

import onnxruntime as ort

from affectlens.eval.machine import Stopwatch, describe, machine_report


def test_describe_names_the_runtime_and_the_cores_this_process_may_use() -> None:
    machine = describe()
    assert machine.onnxruntime == ort.__version__
    assert 1 <= machine.usable_cores <= machine.cores
    assert machine.cpu_model
    assert len(machine.load) == 3


def test_the_report_prints_the_machine_first_and_the_load_and_cpu_time_last() -> None:
    out = io.StringIO()
    with machine_report(out):
        print("figures", file=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("machine: ") and "usable by this process" in lines[0]
    assert f"onnxruntime {ort.__version__}" in lines[1] and "numpy" in lines[1]
    assert lines[2].startswith("load average at start: ")
    assert lines[3] == "figures"
    assert lines[4].startswith("load average at end: ") and "CPU " in lines[4]


def test_cpu_time_counts_the_child_processes_it_waited_for() -> None:
    watch = Stopwatch()
    burn = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass"
    subprocess.run([sys.executable, "-c", burn], check=True)
    assert watch.elapsed().cpu_s >= 0.35


def test_cpu_time_does_not_count_sleeping() -> None:
    watch = Stopwatch()
    time.sleep(0.3)
    used = watch.elapsed()
    assert used.wall_s >= 0.3 and used.cpu_s < 0.1
