#!/usr/bin/env python3
"""Adds up cargo-mutants results into a Markdown table per crate (mutants tried, caught, missed,
timed out, unviable, and caught out of the viable ones), then lists every survivor.

    mutants-report.py DIR...                  every outcome in the DIRs (mutants.out directories or
                                              any directory above them), e.g. the 8 CI shards
    mutants-report.py --against LIST DIR...   the mutants named in LIST (`cargo mutants --list` of
                                              the code being judged), each with the outcome of the
                                              first DIR that ran it, matched by file and description
                                              because line numbers move when code above them does;
                                              for runs made while the code was still changing
"""

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

OUTCOMES = {
    "CaughtMutant": "caught",
    "MissedMutant": "missed",
    "Timeout": "timeout",
    "Unviable": "unviable",
}
CRATES = ["platform", "api-app", "demo-app"]


def outcome_files(directory: Path) -> list[Path]:
    """Every outcomes.json at or under `directory` (a mutants.out, a pass's directory such as
    mutants.out/memory, or a CI shard holding both passes), leaving out --iterate's .old copies."""
    found = [directory / "outcomes.json"] if (directory / "outcomes.json").exists() else sorted(
        p for p in directory.rglob("outcomes.json")
        if not any(part.endswith(".old") for part in p.relative_to(directory).parts))
    if not found:
        sys.exit(f"no outcomes.json in {directory}")
    return found


def mutant_outcomes(directory: Path):
    """(name, outcome) for every mutant in the runs at or under `directory`."""
    for path in outcome_files(directory):
        yield from outcomes_in(path)


def outcomes_in(path: Path):
    for outcome in json.loads(path.read_text())["outcomes"]:
        scenario = outcome["scenario"]
        if isinstance(scenario, dict) and "Mutant" in scenario:  # not the baseline
            name = scenario["Mutant"]["name"]  # "api-app/src/config.rs:54:38: replace && with ||"
            yield name, OUTCOMES.get(outcome["summary"], outcome["summary"])


def without_position(name: str) -> tuple[str, str]:
    file, _line, _column, description = name.split(":", 3)
    return file, description.strip()


def main(args: list[str]) -> int:
    against = None
    if args[:1] == ["--against"]:
        against, args = Path(args[1]).read_text().split("\n"), args[2:]
    runs = [list(mutant_outcomes(Path(d))) for d in args]
    if against is None:
        rows = [row for run in runs for row in run]
    else:
        found = defaultdict(list)
        for run in runs:
            for name, outcome in run:
                found[without_position(name)].append(outcome)
        rows = [
            (name, (found[without_position(name)] or ["not run"]).pop(0))
            for name in against
            if name.strip()
        ]
    if not rows:
        print("No mutant outcomes found.")
        return 1
    kinds = ["caught", "missed", "timeout", "unviable"] + (["not run"] if against else [])
    print("| Crate | Mutants | Caught | Missed | Timed out | Unviable |"
          + (" Not run |" if against else "") + " Caught of viable |")
    print("|---|" + "---:|" * (len(kinds) + 2))
    for crate in [*CRATES, "total"]:
        counts = Counter(o for n, o in rows if crate == "total" or n.startswith(f"{crate}/"))
        viable = counts["caught"] + counts["missed"] + counts["timeout"]
        score = f"{100 * counts['caught'] / viable:.1f} %" if viable else "n/a"
        cells = " | ".join(str(counts[k]) for k in kinds)
        print(f"| {crate} | {sum(counts.values())} | {cells} | {score} |")
    survivors = sorted((n, o) for n, o in rows if o in ("missed", "timeout", "not run"))
    print()
    print(f"Survivors and mutants not run ({len(survivors)}):" if survivors else "No survivors.")
    for name, outcome in survivors:
        print(f"- {outcome}: `{name}`")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
