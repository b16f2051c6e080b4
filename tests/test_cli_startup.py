"""The command line starts cheaply: `affectlens --version` and `--help` load no model runtime.

Importing every subcommand at start loaded pandas, ONNX Runtime and OpenCV (about 3 s of CPU,
6-8 s on a busy machine) before even `--version` could answer (issues 14 and 19).
"""

from __future__ import annotations

import inspect
import resource
import subprocess
import sys
from pathlib import Path

import pytest

import affectlens
from affectlens.cli import COMMANDS

HEAVY = ("onnxruntime", "cv2", "pandas", "torch", "onnx", "scipy", "matplotlib", "sqlalchemy",
         "fastapi", "affectlens.analysis", "affectlens.config", "affectlens.service")
AFFECTLENS = str(Path(sys.executable).with_name("affectlens"))
# Generous: about 0.15 s here; 3 s before the commands were imported lazily.
CPU_BOUND_S = 1.0


def _loaded_after(code: str) -> list[str]:
    """The heavy modules present in a fresh interpreter after ``code`` ran."""
    probe = (f"import sys\n{code}\n"
             f"print('LOADED', ','.join(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, check=True)
    marker = [line for line in done.stdout.splitlines() if line.startswith("LOADED")]
    assert marker, done.stdout + done.stderr
    return [m for m in marker[-1].removeprefix("LOADED ").split(",") if m]


def test_importing_the_cli_loads_no_analysis_stack() -> None:
    assert _loaded_after("import affectlens.cli") == []


@pytest.mark.parametrize("args", [["--version"], ["--help"], []])
def test_version_and_the_command_list_load_no_analysis_stack(args: list[str]) -> None:
    run = ("from affectlens.cli import app\n"
           "try:\n"
           f"    app({args!r}, prog_name='affectlens')\n"
           "except SystemExit as stop:\n"
           "    assert stop.code in (0, None, 2), stop.code")
    assert _loaded_after(run) == []


def test_a_command_still_loads_what_it_needs() -> None:
    """The probe can fail: `analyze --help` must build its model choices, so it loads them."""
    run = ("from affectlens.cli import app\n"
           "try:\n"
           "    app(['analyze', '--help'], prog_name='affectlens')\n"
           "except SystemExit:\n"
           "    pass")
    assert "affectlens.config" in _loaded_after(run)


def _cpu_of_version() -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([AFFECTLENS, "--version"], capture_output=True, text=True,
                          timeout=120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0 and done.stdout.startswith("affectlens "), done.stderr
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def test_version_costs_little_cpu() -> None:
    """CPU time (user + system) of the child, not wall time: a busy machine slows the wall
    clock, not the work. Best of three, so one cold start (disk cache) cannot fail it."""
    times = []
    for _ in range(3):
        times.append(_cpu_of_version())
        if times[-1] < CPU_BOUND_S:
            break
    print(f"affectlens --version: {', '.join(f'{t:.2f}' for t in times)} s of CPU")
    assert min(times) < CPU_BOUND_S


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_command_list_says_what_each_command_says_itself(name: str) -> None:
    """`affectlens --help` lists the help kept in cli.COMMANDS (so that it imports nothing);
    it must be the first paragraph of the command's own help, as typer would show it."""
    lazy = COMMANDS[name]
    command = lazy.load()
    own = inspect.cleandoc(command.short_help or command.help or "").split("\n\n")[0]
    assert inspect.cleandoc(lazy.help) == own, f"update COMMANDS[{name!r}].help in cli.py"


def test_the_package_exposes_analysis_on_first_use() -> None:
    from affectlens.analysis import analyze
    from affectlens.config import AnalysisConfig
    from affectlens.result import Result

    assert (affectlens.analyze, affectlens.AnalysisConfig, affectlens.Result) == (
        analyze, AnalysisConfig, Result)
    assert set(affectlens.__all__) <= set(dir(affectlens))
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = affectlens.no_such_name


@pytest.mark.parametrize("module", ["affectlens", "affectlens.cli"])
def test_python_dash_m_runs_the_command_line(module: str) -> None:
    """From a checkout without the installed script, `python -m affectlens` is the command line
    (`python -m affectlens.cli` printed nothing: the module had no main guard)."""
    done = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"affectlens {affectlens.__version__}"
