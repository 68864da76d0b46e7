"""``make bench``: runs every ``tests/benchmarks/bench_*.py`` module's ``main()``, each in a
process of its own so one benchmark's memory and caches do not slow the next.

Each benchmark prints ``RESULT <name> <value> <unit>`` lines. Benchmarks are never part of the
test suite; later issues add their own modules here.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import tests.benchmarks as package


def main() -> int:
    names = sorted(info.name for info in pkgutil.iter_modules(package.__path__) if info.name.startswith("bench_"))
    if not names:
        print("No benchmarks are registered yet.")
        return 0
    failed = 0
    for name in names:
        print(f"== {name}", flush=True)
        code = f"import tests.benchmarks.{name} as bench; bench.main()"
        failed += subprocess.run([sys.executable, "-c", code], check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
