#!/usr/bin/env python3
"""Regenerates terraform/iam/modules.json and terraform/iam/actions.json from their public sources.

modules.json: the resource and data types each pinned community module can create, read from the
module's own source at its release tag. actions.json: for every type CI applies (the env roots, every
local module they reach, and those community modules; resources, data sources and ephemeral
resources), the IAM actions a refresh needs (plan) and the ones a create,
update or destroy needs (apply), derived from the mapping files of JamesWoolfenden/pike
(src/mapping/aws/{resource,data}/<service>/<type>.json, Apache-2.0).

Neither file is edited by hand; run this after bumping a module or adding a resource type:

    terraform/iam/derive.py --pike <pike git dir> \
        --module terraform-aws-modules/terraform-aws-eks=<git dir> ... (one per repository below)

Each git dir only needs the tags below (`git clone --bare`). tests/contract/iam.rs reads both files.
"""

import argparse
import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "terraform" / "iam"

# The community modules the platform module calls, at the versions it pins, and the directories of
# each that our inputs instantiate. `not_created` names the types our inputs never create, and why;
# everything else the module can create must be covered by the CI roles.
MODULES = {
    "terraform-aws-modules/eks/aws": {
        "repository": "terraform-aws-modules/terraform-aws-eks",
        "tag": "v21.19.0",
        "dirs": ["", "modules/eks-managed-node-group", "modules/_user_data"],
        "not_created": {
            "aws_eks_identity_provider_config": "no identity_providers are configured",
            "aws_iam_openid_connect_provider": "enable_irsa = false (Pod Identity instead)",
            "aws_placement_group": "no node group asks for a placement group",
        },
    },
    "terraform-aws-modules/kms/aws": {
        "repository": "terraform-aws-modules/terraform-aws-kms",
        "tag": "v4.0.0",
        "dirs": [""],
        "not_created": {
            "aws_kms_external_key": "the EKS module creates a regular customer-managed key",
            "aws_kms_replica_external_key": "no multi-Region replica",
            "aws_kms_replica_key": "no multi-Region replica",
            "aws_kms_grant": "the EKS module passes no grants",
        },
    },
    "terraform-aws-modules/vpc/aws": {
        "repository": "terraform-aws-modules/terraform-aws-vpc",
        "tag": "v6.6.0",
        "dirs": [""],
        "not_created": {
            "aws_customer_gateway": "no customer_gateways",
            "aws_default_vpc": "manage_default_vpc = false (default)",
            "aws_egress_only_internet_gateway": "IPv4 only (enable_ipv6 = false)",
            "aws_elasticache_subnet_group": "no elasticache_subnets",
            "aws_network_acl": "no dedicated network ACLs (the default ACL is managed)",
            "aws_network_acl_rule": "no dedicated network ACLs",
            "aws_redshift_subnet_group": "no redshift_subnets",
            "aws_vpc_block_public_access_exclusion": "no VPC block-public-access settings",
            "aws_vpc_block_public_access_options": "no VPC block-public-access settings",
            "aws_vpc_dhcp_options": "enable_dhcp_options = false (default)",
            "aws_vpc_dhcp_options_association": "enable_dhcp_options = false (default)",
            "aws_vpc_ipv4_cidr_block_association": "no secondary_cidr_blocks",
            "aws_vpn_gateway": "enable_vpn_gateway = false (default)",
            "aws_vpn_gateway_attachment": "enable_vpn_gateway = false (default)",
            "aws_vpn_gateway_route_propagation": "enable_vpn_gateway = false (default)",
        },
    },
    "terraform-aws-modules/rds/aws": {
        "repository": "terraform-aws-modules/terraform-aws-rds",
        "tag": "v7.2.0",
        "dirs": [
            "",
            "modules/db_instance",
            "modules/db_subnet_group",
            "modules/db_parameter_group",
            "modules/db_option_group",
            "modules/db_instance_role_association",
        ],
        "not_created": {
            "aws_db_option_group": "create_db_option_group = false (PostgreSQL has none)",
            "aws_db_instance_role_association": "no db_instance_role_associations",
            "aws_secretsmanager_secret_rotation": "manage_master_user_password_rotation = false (RDS rotates the master secret itself)",
        },
    },
    "terraform-aws-modules/eks-pod-identity/aws": {
        "repository": "terraform-aws-modules/terraform-aws-eks-pod-identity",
        "tag": "v2.8.1",
        "dirs": [""],
        "not_created": {},
        # The policy documents the module writes for roles we ask it for (attach_*_policy), kept
        # as the module's own HCL so tests/contract/iam.rs renders and judges them like ours.
        "policies": {"lb_controller": "aws_lb_controller.tf"},
    },
}

# The roots CI plans and applies (terraform/bootstrap is applied once by a person); every local module
# they call (`source = "../..."`, at any depth) is applied with them.
CI_ROOTS = ["terraform/envs/dev", "terraform/envs/prod"]
READ_VERBS = ("Describe", "Get", "List", "BatchGet")
BLOCK = re.compile(r'^(resource|data|ephemeral)\s+"([a-z0-9_]+)"', re.M)
LOCAL_SOURCE = re.compile(r'^\s*source\s*=\s*"(\.\.?/[^"]*)"', re.M)
# pike maps no ephemeral resources; an ephemeral type calls the same API as the data source of its
# name (aws_secretsmanager_random_password: GetRandomPassword), so it takes that mapping.
PIKE_KIND = {"resource": "resource", "data": "data", "ephemeral": "data"}


def git(repo_dir, *args):
    return subprocess.run(["git", "--git-dir", repo_dir, *args], capture_output=True, text=True, check=True).stdout


def types_in(texts):
    found = {"resource": set(), "data": set(), "ephemeral": set()}
    for text in texts:
        for kind, name in BLOCK.findall(text):
            found[kind].add(name)
    return found


def module_types(repo_dir, spec):
    files = [
        f
        for f in git(repo_dir, "ls-tree", "-r", "--name-only", spec["tag"]).split()
        if f.endswith(".tf") and (f.rpartition("/")[0]) in spec["dirs"]
    ]
    found = types_in(git(repo_dir, "show", f"{spec['tag']}:{f}") for f in files)
    commit = git(repo_dir, "rev-list", "-n", "1", spec["tag"]).strip()
    return commit, found


def policy_block(repo_dir, tag, path, name):
    """The text of `data "aws_iam_policy_document" "<name>" { ... }` in a module file at a tag."""
    text = git(repo_dir, "show", f"{tag}:{path}")
    start = text.index(f'data "aws_iam_policy_document" "{name}"')
    depth = 0
    for i in range(text.index("{", start), len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start : i + 1] + "\n"
    sys.exit(f"{path}: unbalanced block {name}")


def ci_dirs():
    """The CI roots and every local module directory they reach."""
    todo, seen = [ROOT / d for d in CI_ROOTS], set()
    while todo:
        d = todo.pop().resolve()
        if d in seen:
            continue
        seen.add(d)
        for f in d.glob("*.tf"):
            todo.extend(d / source for source in LOCAL_SOURCE.findall(f.read_text()))
    return sorted(seen)


def our_types():
    return types_in(p.read_text() for d in ci_dirs() for p in sorted(d.glob("*.tf")))


def pike_index(pike_dir):
    index = {}
    for path in git(pike_dir, "ls-tree", "-r", "--name-only", "HEAD", "src/mapping/aws").split():
        parts = path.split("/")
        if len(parts) == 6 and parts[5].endswith(".json"):
            index[(parts[3], parts[5][:-5])] = path
    return index


def actions_of(pike_dir, path):
    entries = json.loads(git(pike_dir, "show", f"HEAD:{path}"))
    every = set()
    for entry in entries:
        for key in ("apply", "destroy", "modify", "plan"):
            every.update(entry.get(key) or [])
        for listed in (entry.get("attributes") or {}).values():
            every.update(listed or [])
    return sorted(a for a in every if a)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pike", required=True, help="git dir of JamesWoolfenden/pike")
    parser.add_argument("--module", action="append", default=[], help="<owner>/<repository>=<git dir>")
    args = parser.parse_args()
    git_dirs = dict(m.split("=", 1) for m in args.module)

    modules = {}
    wanted = our_types()
    for source, spec in MODULES.items():
        commit, found = module_types(git_dirs[spec["repository"]], spec)
        unknown = set(spec["not_created"]) - found["resource"]
        if unknown:
            sys.exit(f"{source}: not_created names types the module does not have: {sorted(unknown)}")
        modules[source] = {
            "repository": f"https://github.com/{spec['repository']}",
            "tag": spec["tag"],
            "commit": commit,
            "dirs": spec["dirs"],
            "resources": sorted(found["resource"]),
            "data": sorted(found["data"]),
            "not_created": spec["not_created"],
        }
        if spec.get("policies"):
            modules[source]["policies"] = {
                name: {"file": path, "hcl": policy_block(git_dirs[spec["repository"]], spec["tag"], path, name)}
                for name, path in spec["policies"].items()
            }
        wanted["resource"].update(found["resource"])
        wanted["data"].update(found["data"])

    index = pike_index(args.pike)
    pike_commit = git(args.pike, "rev-parse", "HEAD").strip()
    actions = {"resource": {}, "data": {}, "ephemeral": {}}
    missing = []
    for kind in ("resource", "data", "ephemeral"):
        for name in sorted(t for t in wanted[kind] if t.startswith("aws_")):
            path = index.get((PIKE_KIND[kind], name))
            if path is None:
                missing.append(f"{kind} {name}")
                continue
            every = actions_of(args.pike, path)
            reads = [a for a in every if a.split(":", 1)[1].startswith(READ_VERBS)]
            # A data source or an ephemeral resource only reads (both are opened by a plan); a
            # resource's refresh reads, and its apply needs everything.
            actions[kind][name] = {"pike": path, "plan": reads if kind == "resource" else every}
            if kind == "resource":
                actions[kind][name]["apply"] = every
    if missing:
        sys.exit(f"pike has no mapping for: {', '.join(missing)}")

    header = {
        "generated_by": "terraform/iam/derive.py",
        "source": {
            "repository": "https://github.com/JamesWoolfenden/pike",
            "commit": pike_commit,
            "license": "Apache-2.0",
        },
        "rule": "plan: the mapping's Describe/Get/List/BatchGet actions (a data source or an ephemeral resource, which takes the data source's mapping: all of them); apply: every action of the mapping (apply, attributes, modify, destroy)",
    }
    (OUT / "modules.json").write_text(
        json.dumps({"generated_by": header["generated_by"], "modules": modules}, indent=2) + "\n"
    )
    (OUT / "actions.json").write_text(json.dumps({**header, **actions}, indent=2) + "\n")


if __name__ == "__main__":
    main()
