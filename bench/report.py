"""``followup status`` and the digest on the 1,000,000-assignment database (200 owners x 5,000 commitments).

Each figure is a fresh ``followup`` process, as an officer runs it, so
start-up (interpreter, imports, settings, the schema check) is included:

* the whole matrix as JSON (written to a file): wall time and the peak
  resident memory of the process (``wait4``'s ``ru_maxrss``), against 3 s
  and 300 MB;
* one owner (``--country``), as JSON and as the table: wall time against
  0.5 s;
* the digest as it would be sent (``followup preview digest --out
  FILE.eml``: rendered, attachment built, composed): wall time against 2 s
  and the message's size against 200 KB.

Beside each, the figure the issue measured before this work (43 s and
1.8 GB for the whole matrix, a 3.5-4.7 MB digest), so the table reads as a
ratio. The database is :func:`bench.data.report_db`'s, cached; every run
works on a copy.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import Figure, Log, Outcome, median, spread
from bench.data import CACHE_DIR, NOW, REPORT_PARTIES, copy_db, report_db

STATUS_SECONDS = 3.0
STATUS_PEAK_MB = 300
OWNER_SECONDS = 0.5
DIGEST_SECONDS = 2.0
DIGEST_BYTES = 200_000
OWNER = "T00007"


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mb: float
    output_bytes: int


def _followup(args: list[str], env: dict[str, str], out: Path) -> Run:
    """One ``followup`` process: wall time, peak memory and the size of its output.

    The peak is the process's own ``VmHWM``, read from ``/proc`` until it
    exits (it only grows): ``wait4``'s ``ru_maxrss`` would also count the
    benchmark process it was forked from.
    """
    started = time.perf_counter()
    peak_kb = 0
    with out.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "followup", *args], stdout=sink, stderr=subprocess.PIPE, env=env)
        status = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            peak_kb = max(peak_kb, _hwm_kb(status))
            time.sleep(0.005)
    seconds = time.perf_counter() - started
    error = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode:
        raise RuntimeError(f"followup {' '.join(args)}: exit {proc.returncode}: {error.strip()[-300:]}")
    return Run(seconds, peak_kb / 1024, out.stat().st_size)


def _hwm_kb(status: Path) -> int:
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):  # gone (exited) or not Linux
        pass
    return 0


def run(size: int, repeats: int, log: Log, *, cache_dir: Path = CACHE_DIR) -> Outcome:
    source = report_db(size, cache_dir=cache_dir, log=log)
    now = NOW.isoformat()
    with tempfile.TemporaryDirectory(prefix="followup-bench-report-") as tmp:
        workdir = Path(tmp)
        db = copy_db(source, workdir / "report.db")
        config = workdir / "bench.toml"
        config.write_text("", encoding="utf-8")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")},
            "FOLLOWUP_CONFIG": str(config),
            "FOLLOWUP_DATABASE_URL": f"sqlite:///{db}",
            "FOLLOWUP_SIGNING_SECRET": "bench-signing-secret-0123456789abcdef",
            "FOLLOWUP_SIGNING_KEY_PATH": str(workdir / "signing.key"),
            "COLUMNS": "120",
        }
        out = workdir / "out"
        _followup(["status", "--format", "json", "--country", OWNER, "--now", now], env, out)  # warm the page cache
        whole = [_followup(["status", "--format", "json", "--now", now], env, out) for _ in range((repeats + 1) // 2)]
        log(f"report: status --format json: {median([r.seconds for r in whole]):.2f} s, "
            f"{max(r.peak_mb for r in whole):.0f} MB peak, {whole[0].output_bytes / 1e6:.0f} MB of JSON")  # fmt: skip
        owner_json = [
            _followup(["status", "--format", "json", "--country", OWNER, "--now", now], env, out)
            for _ in range(repeats)
        ]
        owner_table = [_followup(["status", "--country", OWNER, "--now", now], env, out) for _ in range(repeats)]
        log(f"report: status --country {OWNER}: json {median([r.seconds for r in owner_json]):.2f} s, "
            f"table {median([r.seconds for r in owner_table]):.2f} s")  # fmt: skip
        eml = workdir / "digest.eml"
        digests = [_followup(["preview", "digest", "--out", str(eml), "--now", now], env, out) for _ in range(repeats)]
        digest_bytes = eml.stat().st_size
        log(f"report: digest: {median([r.seconds for r in digests]):.2f} s, {digest_bytes / 1000:.0f} KB")
    name = f"report ({size:,} assignments, {REPORT_PARTIES} owners)"
    whole_s, whole_mb = median([r.seconds for r in whole]), max(r.peak_mb for r in whole)
    owner_s, table_s = median([r.seconds for r in owner_json]), median([r.seconds for r in owner_table])
    digest_s = median([r.seconds for r in digests])
    owner_note = f"{owner_s / OWNER_SECONDS:.2f}x the 0.5 s target; " + spread([r.seconds for r in owner_json])
    return Outcome(
        name,
        [
            Figure(name, "status --format json, whole matrix: wall", f"{whole_s:.2f} s", ok=whole_s <= STATUS_SECONDS,
                   note=f"{whole_s / STATUS_SECONDS:.2f}x the 3 s target; before: 43 s; "
                   f"{whole[0].output_bytes / 1e6:.0f} MB"),
            Figure(name, "status --format json, whole matrix: peak memory", f"{whole_mb:.0f} MB",
                   ok=whole_mb <= STATUS_PEAK_MB,
                   note=f"{whole_mb / STATUS_PEAK_MB:.2f}x the 300 MB target; before: 1.8 GB"),
            Figure(name, f"status --country {OWNER} --format json (start-up included)", f"{owner_s:.2f} s",
                   ok=owner_s <= OWNER_SECONDS, note=owner_note),
            Figure(name, f"status --country {OWNER} (table)", f"{table_s:.2f} s",
                   note=spread([r.seconds for r in owner_table])),
            Figure(name, "digest, composed (start-up included)", f"{digest_s:.2f} s", ok=digest_s <= DIGEST_SECONDS,
                   note=f"{digest_s / DIGEST_SECONDS:.2f}x the 2 s target; " + spread([r.seconds for r in digests])),
            Figure(name, "digest email size, attachment included", f"{digest_bytes / 1000:.0f} KB",
                   ok=digest_bytes < DIGEST_BYTES,
                   note=f"{digest_bytes / DIGEST_BYTES:.2f}x the 200 KB cap; before: 3.5-4.7 MB"),
        ],
    )  # fmt: skip
