#!/usr/bin/env python3
"""cloudsplaining over every IAM document terraform/ creates, rendered by the contract tests into
artifacts/iam/ (index.json says what each file is). It judges the identity policies and the
permissions boundaries; trust and resource policies are rendered for reading and are checked by
tests/contract/iam.rs instead. cloudsplaining exits 0 whatever it finds, so this reads its results
and fails on any privilege-escalation, resource-exposure, credentials-exposure or data-exfiltration
finding that terraform/iam/cloudsplaining-exceptions.yml does not accept with a reason. An accepted
finding that no longer occurs fails too, so the exceptions never outlive their reason.

cloudsplaining passes over any statement with a Condition, and most of the CI roles' write grants
are scoped by one (an env tag, a boundary). So each identity policy is judged twice: as written, and
with its conditions taken out (the `without-conditions` view), where what a condition alone keeps
safe must be accepted with that reason too. Deny statements do not count for cloudsplaining either:
an exception says which one covers its finding, and tests/contract/iam.rs checks the Deny holds.

Usage: scripts/check-iam.py [artifacts/iam]
"""

import copy
import fnmatch
import json
import pathlib
import sys

import yaml
from cloudsplaining.command.scan_policy_file import scan_policy
from cloudsplaining.shared.constants import DEFAULT_EXCLUSIONS_CONFIG

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXCEPTIONS = ROOT / "terraform" / "iam" / "cloudsplaining-exceptions.yml"
# The findings that must be zero (cloudsplaining's high-priority risks, and credentials).
JUDGED = ("PrivilegeEscalation", "ResourceExposure", "CredentialsExposure", "DataExfiltration")
SCANNED_KINDS = ("identity", "boundary")
AS_WRITTEN, WITHOUT_CONDITIONS = "as-written", "without-conditions"


def views(policy, kind):
    """The versions of `policy` judged: as written, and for identity policies without conditions."""
    yield AS_WRITTEN, policy
    if kind == "identity":
        bare = copy.deepcopy(policy)
        statements = bare["Statement"] if isinstance(bare["Statement"], list) else [bare["Statement"]]
        for statement in statements:
            statement.pop("Condition", None)
        yield WITHOUT_CONDITIONS, bare


def findings_of(results, kind):
    found = (results.get(kind) or {}).get("findings") or []
    if kind == "PrivilegeEscalation":
        return sorted({action for method in found for action in method.get("actions", [])})
    return sorted(found)


def main():
    rendered = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "artifacts" / "iam"
    index_file = rendered / "index.json"
    if not index_file.is_file():
        sys.exit(f"check-iam: {index_file} is missing; the contract tests render it (iam::every_iam_document_renders_to_json_for_cloudsplaining)")
    index = json.loads(index_file.read_text())
    accepted = yaml.safe_load(EXCEPTIONS.read_text())["exceptions"] or []
    for entry in accepted:
        if not str(entry.get("reason", "")).strip():
            sys.exit(f"check-iam: {EXCEPTIONS.name}: every exception needs a reason: {entry}")
    used = set()
    failures = []
    scanned = 0
    for doc in index:
        if doc["kind"] not in SCANNED_KINDS:
            continue
        scanned += 1
        for view, policy in views(json.loads((rendered / doc["file"]).read_text()), doc["kind"]):
            results = scan_policy(policy, DEFAULT_EXCLUSIONS_CONFIG)
            for kind in JUDGED:
                for action in findings_of(results, kind):
                    match = [
                        i
                        for i, e in enumerate(accepted)
                        if fnmatch.fnmatch(doc["file"], e["document"])
                        and e.get("view", AS_WRITTEN) == view
                        and e["finding"] == kind
                        and any(fnmatch.fnmatch(action.lower(), a.lower()) for a in e["actions"])
                    ]
                    if match:
                        used.update((i, a.lower()) for i in match for a in accepted[i]["actions"] if fnmatch.fnmatch(action.lower(), a.lower()))
                    else:
                        failures.append(f"{doc['file']} ({doc['source']}), {view}: {kind}: {action}")
    for i, entry in enumerate(accepted):
        for action in entry["actions"]:
            if (i, action.lower()) not in used:
                failures.append(
                    f"{EXCEPTIONS.name}: {entry['document']} {entry.get('view', AS_WRITTEN)} {entry['finding']} {action} "
                    "is accepted but no longer found; remove it"
                )
    if failures:
        print("check-iam: cloudsplaining findings that are not accepted with a reason:", file=sys.stderr)
        print("\n".join(f"  {f}" for f in failures), file=sys.stderr)
        sys.exit(1)
    print(
        f"check-iam: cloudsplaining: {scanned} documents (identity policies also without their conditions), "
        f"0 findings beyond the {len(accepted)} accepted exceptions"
    )


if __name__ == "__main__":
    main()
