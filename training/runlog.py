"""The training scripts' log: each line printed and appended to OUT/train.log, so a run's
record outlives the terminal (and a resumed run adds to it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def run_log(out: Path) -> Callable[[str], None]:
    out.mkdir(parents=True, exist_ok=True)
    log = (out / "train.log").open("a")

    def say(message: str) -> None:
        print(message, flush=True)
        log.write(message + "\n")
        log.flush()

    return say
