#!/usr/bin/env python3
"""Adds up cargo-mutants results (one or more mutants.out directories, e.g. one per CI shard) into
a Markdown table per crate: mutants tried, caught, missed, timed out and unviable, and the score
(caught out of the viable ones), then lists every survivor. Usage: mutants-report.py DIR..."""

import json
import sys
from collections import Counter
from pathlib import Path

OUTCOMES = {
    "CaughtMutant": "caught",
    "MissedMutant": "missed",
    "Timeout": "timeout",
    "Unviable": "unviable",
}


def mutant_outcomes(directory: Path):
    """(crate, file, name, outcome) for every mutant in one mutants.out (or its parent)."""
    path = directory / "outcomes.json"
    if not path.exists():
        path = directory / "mutants.out" / "outcomes.json"
    for outcome in json.loads(path.read_text())["outcomes"]:
        scenario = outcome["scenario"]
        if not isinstance(scenario, dict) or "Mutant" not in scenario:
            continue  # the baseline
        mutant = scenario["Mutant"]
        file = mutant["file"]  # e.g. api-app/src/config.rs; `name` starts with it
        yield mutant["package"], file, mutant["name"], OUTCOMES.get(outcome["summary"], outcome["summary"])


def main(dirs: list[str]) -> int:
    rows = [row for d in dirs for row in mutant_outcomes(Path(d))]
    if not rows:
        print("No mutant outcomes found.")
        return 1
    print("| Crate | Tried | Caught | Missed | Timed out | Unviable | Caught of viable |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    crates = sorted({crate for crate, *_ in rows})
    for crate in [*crates, "total"]:
        counts = Counter(o for c, _, _, o in rows if crate in (c, "total"))
        viable = counts["caught"] + counts["missed"] + counts["timeout"]
        score = f"{100 * counts['caught'] / viable:.1f} %" if viable else "n/a"
        tried = sum(counts.values())
        print(
            f"| {crate} | {tried} | {counts['caught']} | {counts['missed']} "
            f"| {counts['timeout']} | {counts['unviable']} | {score} |"
        )
    survivors = sorted((name, o) for *_, name, o in rows if o in ("missed", "timeout"))
    print()
    print(f"Survivors ({len(survivors)}):" if survivors else "No survivors.")
    for name, outcome in survivors:
        print(f"- {outcome}: `{name}`")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
