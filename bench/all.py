"""`make bench`: every benchmark in turn; each prints one line and writes bench/results/."""

from __future__ import annotations

import subprocess
import sys
import time

BENCHMARKS = ["bench.claim", "bench.memory", "bench.dispatch", "bench.webhook"]


def main() -> int:
    started = time.monotonic()
    failed = []
    for module in BENCHMARKS:
        result = subprocess.run([sys.executable, "-m", module])
        if result.returncode:
            failed.append(module)
    print(
        f"benchmarks done in {time.monotonic() - started:.0f} s"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
