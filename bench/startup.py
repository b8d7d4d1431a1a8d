"""Start-up time: ``followup --help`` beside ``python -c pass``, each a fresh interpreter.

``--help`` is what a newcomer types first and what shell completion runs on
every key press; it should cost little more than starting Python. The
command modules are imported only when a command runs (the lazy group in
:mod:`followup.cli.main`), so the gap is click and the command table.
"""

from __future__ import annotations

import subprocess
import sys
import time

from bench.common import Figure, Log, Outcome, median, spread

#: ``followup --help`` may take this many seconds on an idle machine (the issue's budget).
TARGET_SECONDS = 0.3
#: The same budget as a multiple of a bare interpreter, which holds on a loaded machine too.
TARGET_RATIO = 3.0


def _time(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def run(repeats: int, log: Log) -> Outcome:
    """Alternate the two commands ``repeats`` times (after one warm-up each) and compare medians."""
    bare_argv = [sys.executable, "-c", "pass"]
    help_argv = [sys.executable, "-m", "followup", "--help"]
    _time(bare_argv)
    _time(help_argv)
    bare: list[float] = []
    helps: list[float] = []
    for i in range(repeats):
        bare.append(_time(bare_argv))
        helps.append(_time(help_argv))
        if (i + 1) % 10 == 0:
            log(f"startup: {i + 1}/{repeats} runs")
    bare_s, help_s = median(bare), median(helps)
    ratio = help_s / bare_s if bare_s else float("inf")
    outcome = Outcome("startup")
    outcome.figures += [
        Figure("startup", "python -c pass", f"{bare_s * 1000:.0f} ms", note=spread([b * 1000 for b in bare])),
        Figure(
            "startup",
            "followup --help",
            f"{help_s * 1000:.0f} ms",
            ok=help_s <= TARGET_SECONDS or ratio <= TARGET_RATIO,
            note=f"target <= {TARGET_SECONDS * 1000:.0f} ms or {TARGET_RATIO:g}x; " + spread([h * 1000 for h in helps]),
        ),
        # One target, two forms: the ratio judges a loaded machine, where 0.3 s may not hold; on an idle
        # one the interpreter starts so fast that 3x of it is far below 0.3 s. The verdict is on the row above.
        Figure("startup", "ratio", f"{ratio:.2f}x", note=f"on a loaded machine the target is <= {TARGET_RATIO:g}x"),
    ]
    return outcome
