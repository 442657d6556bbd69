#!/usr/bin/env python3
"""Every pin of the repository, read from the files that hold them, with the bot that updates it.

    scripts/pins.py           a Markdown table (ci.yml writes it to the job summary)
    scripts/pins.py --json    the same rows as JSON (tests/contract/pins.rs checks them)

The table is generated, never written by hand, so a Dependabot bump of an action or an image changes
the pin and its row together. Kinds: GitHub Actions (workflows' `uses:`), container images (Dockerfile
FROM lines, .github/images/Dockerfile, k8s/ manifests), Helm charts (terraform/), and the tools of
make test (tools/requirements.txt, tools/package.json, rust-toolchain.toml).
"""

import json
import os
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
USES = re.compile(r"^\s*(?:-\s+)?uses:\s+([^@\s]+)@(\S+)(?:\s+#\s+(\S+))?\s*$")
IMAGE = re.compile(r"^(?:FROM\s+(?:--platform=\S+\s+)?|\s*(?:-\s+)?image:\s+)([a-z0-9./_-]+(?::[\w.-]+)?(?:@sha256:[0-9a-f]{64})?)")
CHART = re.compile(r'^\s*chart\s*=\s*"([^"]+)"')
VERSION = re.compile(r'^\s*version\s*=\s*"([^"]+)"')


def rel(path):
    return str(path.relative_to(ROOT))


def dependabot():
    """{ecosystem: set of directories} from .github/dependabot.yml."""
    config = yaml.safe_load((ROOT / ".github/dependabot.yml").read_text())
    covered = {}
    for update in config.get("updates", []):
        dirs = update.get("directories") or [update.get("directory")]
        covered.setdefault(update["package-ecosystem"], set()).update(d.rstrip("/") or "/" for d in dirs)
    return covered


def updater(covered, ecosystem, directory):
    directory = "/" + directory.strip("/") if directory.strip("/") else "/"
    return f"Dependabot ({ecosystem})" if directory in covered.get(ecosystem, ()) else None


def actions(covered):
    rows = {}
    for wf in sorted((ROOT / ".github/workflows").glob("*.yml")):
        for line in wf.read_text().splitlines():
            m = USES.match(line)
            if not m or m.group(1).startswith("./"):
                continue
            name, ref, version = m.groups()
            row = rows.setdefault((name, ref, version), {
                "kind": "action", "name": name, "version": version, "pin": ref, "where": [],
                "updated_by": updater(covered, "github-actions", "/"),
            })
            if rel(wf) not in row["where"]:
                row["where"].append(rel(wf))
    return list(rows.values())


def images(covered):
    files = [ROOT / "Dockerfile", ROOT / ".github/images/Dockerfile"]
    files += sorted(p for p in (ROOT / "k8s").rglob("*.yaml"))
    rows = {}
    for path in files:
        for line in path.read_text().splitlines():
            m = IMAGE.match(line)
            if not m:
                continue
            ref = m.group(1)
            # The apps' own images are placeholders the overlays map to release digests.
            if "/" not in ref and ":" not in ref and "@" not in ref:
                continue
            name, _, digest = ref.partition("@")
            version = name.rsplit(":", 1)[1] if ":" in name.split("/")[-1] else None
            row = rows.setdefault(ref, {
                "kind": "image", "name": name.split(":")[0] if version else name, "version": version,
                "pin": digest or None, "where": [],
                "updated_by": updater(covered, "docker", rel(path.parent) if path.parent != ROOT else "/"),
            })
            row["where"].append(rel(path))
    return list(rows.values())


def charts():
    renovate = (ROOT / "renovate.json").exists()
    rows = []
    for tf in sorted((ROOT / "terraform").rglob("*.tf")):
        if ".terraform" in tf.parts:
            continue
        chart = None
        for line in tf.read_text().splitlines():
            if m := CHART.match(line):
                chart = m.group(1)
            elif chart and (m := VERSION.match(line)):
                rows.append({
                    "kind": "helm chart", "name": chart, "version": m.group(1), "pin": m.group(1),
                    "where": [rel(tf)], "updated_by": "Renovate (renovate.json)" if renovate else None,
                })
                chart = None
    return rows


def tools(covered):
    rows = []
    for line in (ROOT / "tools/requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            rows.append({"kind": "python tool", "name": name, "version": version, "pin": version,
                         "where": ["tools/requirements.txt"], "updated_by": updater(covered, "pip", "tools")})
    for name, version in json.loads((ROOT / "tools/package.json").read_text())["dependencies"].items():
        rows.append({"kind": "node tool", "name": name, "version": version, "pin": version,
                     "where": ["tools/package.json"], "updated_by": updater(covered, "npm", "tools")})
    channel = re.search(r'^channel = "([^"]+)"', (ROOT / "rust-toolchain.toml").read_text(), re.M).group(1)
    rows.append({"kind": "toolchain", "name": "rust", "version": channel, "pin": channel,
                 "where": ["rust-toolchain.toml"], "updated_by": "by hand, with the rust image's tag"})
    return rows


def main():
    covered = dependabot()
    rows = actions(covered) + images(covered) + charts() + tools(covered)
    if sys.argv[1:] == ["--json"]:
        json.dump(rows, sys.stdout, indent=1)
        print()
        return
    print("## Every pin (scripts/pins.py)\n")
    print("| Kind | Name | Version | Pinned to | Where | Updated by |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        pin = f"`{r['pin']}`" if r["pin"] else "**not pinned**"
        print(f"| {r['kind']} | {r['name']} | {r['version'] or ''} | {pin} | {', '.join(r['where'])} | "
              f"{r['updated_by'] or '**no bot**'} |")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
