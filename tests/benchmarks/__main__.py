"""``make bench``: runs every ``tests/benchmarks/bench_*.py`` module's ``main()``.

Each benchmark prints ``RESULT <name> <value> <unit>`` lines. Benchmarks are never part of the
test suite; later issues add their own modules here.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import tests.benchmarks as package


def main() -> int:
    names = sorted(info.name for info in pkgutil.iter_modules(package.__path__) if info.name.startswith("bench_"))
    if not names:
        print("No benchmarks are registered yet.")
        return 0
    for name in names:
        print(f"== {name}", flush=True)
        importlib.import_module(f"tests.benchmarks.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
