"""``make bench``: runs every ``tests/benchmarks/bench_*.py`` module's ``main()``, each in a
process of its own so one benchmark's memory and caches do not slow the next.

Each benchmark prints ``RESULT <name> <value> <unit>`` lines. Benchmarks are never part of the
test suite; later issues add their own modules here.

``python -m tests.benchmarks templates segments`` runs only the named ones (``bench_templates``,
``bench_segments``).
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import tests.benchmarks as package


def main(selected: list[str] | None = None) -> int:
    names = sorted(info.name for info in pkgutil.iter_modules(package.__path__) if info.name.startswith("bench_"))
    if selected:
        wanted = [f"bench_{name.removeprefix('bench_')}" for name in selected]
        unknown = [name for name in wanted if name not in names]
        if unknown:
            print(f"No such benchmark: {', '.join(unknown)} (there are: {', '.join(names)})")
            return 2
        names = [name for name in names if name in wanted]
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
    sys.exit(main(sys.argv[1:]))
