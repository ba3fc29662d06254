"""SQL over a trace file: each command through the engine (first read, and from the columnar
copy) beside the in-memory path and the floor of an orjson parse of the file in Python.

    .venv/bin/python bench/bench_sql.py [--spans 1000000] [--rounds 3]

The file is made by otel_exec itself (@traced calls, 1 % failing; see bench_load.py). Every
case runs as its own process, as a user runs it, output to /dev/null: wall time, CPU time
(the engine uses every core) and peak resident memory. "first read" reads the JSON lines each
time (--no-cache); "from the copy" reads the columnar copy a first read left beside the file
(files of 16 MiB or more; a smaller one is read again).
Cases run interleaved, ``--rounds`` times; the median is printed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson
from bench_load import OTEL_EXEC, run


def floor(path: Path) -> None:
    """What any reader in Python must do: parse every line."""
    with path.open("rb") as lines:
        for line in lines:
            orjson.loads(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--floor", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.floor is not None:
        floor(options.floor)
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.jsonl"
        subprocess.run([sys.executable, str(Path(__file__).with_name("bench_load.py")),
                        "--make", str(path), "--spans", str(options.spans)],
                       capture_output=True, text=True, check=True)
        file = str(path)
        subprocess.run([OTEL_EXEC, "stats", file, "--sql"], capture_output=True, check=True)
        cases: dict[str, list[str]] = {"floor: orjson parse of every line": [
            sys.executable, __file__, "--floor", file]}
        for name, extra in (("stats", []), ("summary", []), ("history", []), ("jobs", [])):
            label = f"{name} (newest 1,000 rows)" if name == "summary" else name
            cases[f"{label}, in memory"] = [OTEL_EXEC, name, file, *extra]
            cases[f"{label}, engine first read"] = [OTEL_EXEC, name, file, "--sql",
                                                    "--no-cache", *extra]
            cases[f"{label}, engine from the copy"] = [OTEL_EXEC, name, file, "--sql", *extra]
        samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in cases}
        for _ in range(options.rounds):
            for name, command in cases.items():
                samples[name].append(run(command))
        size = path.stat().st_size
    print(f"Python {sys.version.split()[0]}, {options.spans:,} spans, file {size / 1e6:.1f} MB; "
          f"median of {options.rounds} interleaved rounds")
    floor_wall = statistics.median(w for _, _, w in samples["floor: orjson parse of every line"])
    for name, values in samples.items():
        cpu = statistics.median(c for c, _, _ in values)
        memory = max(m for _, m, _ in values)
        wall = statistics.median(w for _, _, w in values)
        print(f"  {name:52} {wall:6.2f} s  {wall / floor_wall:5.2f} x the floor  "
              f"CPU {cpu:6.2f} s  peak {memory:6.0f} MB")


if __name__ == "__main__":
    main()
