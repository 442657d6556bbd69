//! Nothing floats: every community module, EKS add-on and node AMI is pinned to one exact release,
//! so a plan changes only what a commit changed, and updates arrive as reviewed PRs (renovate.json).

use integration_tests::facts::ENVS;
use integration_tests::{files_under, read_text};

use integration_tests::terraform::{
    EnvRoot, PLATFORM, attr, attr_text, block, blocks_in, hcl_to_json,
};

/// `X.Y.Z`, nothing else: no `~>`, no range, no prefix.
fn is_exact_semver(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

#[test]
fn every_registry_module_is_pinned_to_one_exact_version() {
    let mut seen = 0;
    for f in files_under("terraform", "tf") {
        let body = hcl::parse(&read_text(&f)).unwrap();
        for b in body.blocks().filter(|b| b.identifier() == "module") {
            let source = attr_text(b.body(), "source");
            if source.starts_with("\"./") || source.starts_with("\"../") {
                continue;
            }
            seen += 1;
            let version = attr_text(b.body(), "version");
            assert!(
                is_exact_semver(version.trim_matches('"')),
                "{f}: module {} ({source}) must pin one exact version, not {version}",
                b.labels()[0].as_str()
            );
        }
    }
    assert!(seen >= 5, "the vpc, eks, rds and pod-identity modules");
}

/// The minor of a `kubernetes_version` such as `1.35`.
fn minor_of(env: &str) -> String {
    EnvRoot::load(env)
        .module_arg("platform", "kubernetes_version")
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn eks_add_ons_are_exact_builds_for_the_clusters_minor_never_the_newest() {
    let platform = blocks_in(PLATFORM);
    let eks = block(&platform, "module", &["eks"]).body();
    let Some(hcl::Expression::Object(addons)) = attr(eks, "addons") else {
        panic!("module.eks sets addons as an object literal")
    };
    assert_eq!(
        addons.len(),
        4,
        "coredns, kube-proxy, vpc-cni, eks-pod-identity-agent"
    );
    for (key, addon) in addons {
        let hcl::Expression::Object(fields) = addon else {
            panic!("{key:?}: an object")
        };
        let text = |k: &str| {
            fields
                .iter()
                .find(|(fk, _)| fk.to_string().trim_matches('"') == k)
                .map(|(_, v)| v.to_string().split_whitespace().collect::<String>())
        };
        let name = key.to_string().trim_matches('"').replace('-', "_");
        assert_eq!(
            text("addon_version").as_deref(),
            Some(format!("var.addon_versions.{name}").as_str()),
            "{key:?}: the build the env root pins"
        );
        assert_eq!(
            text("most_recent").as_deref(),
            Some("false"),
            "{key:?}: never the newest build (the module's default)"
        );
    }

    for env in ENVS {
        let minor = minor_of(env);
        let versions = hcl_to_json(&EnvRoot::load(env).module_arg("platform", "addon_versions"));
        let versions = versions.as_object().expect("addon_versions is an object");
        assert_eq!(versions.len(), 4, "{env}");
        for (addon, v) in versions {
            let v = v.as_str().unwrap();
            let (semver, build) = v
                .strip_prefix('v')
                .and_then(|rest| rest.split_once("-eksbuild."))
                .unwrap_or_else(|| panic!("{env}/{addon}: {v} is not v<version>-eksbuild.<n>"));
            assert!(
                is_exact_semver(semver) && build.parse::<u32>().is_ok(),
                "{env}/{addon}: {v}"
            );
        }
        assert!(
            versions["kube_proxy"]
                .as_str()
                .unwrap()
                .starts_with(&format!("v{minor}.")),
            "{env}: kube-proxy follows the control plane's minor {minor}"
        );
    }
}

#[test]
fn nodes_run_one_exact_ami_release_of_the_clusters_minor() {
    let platform = blocks_in(PLATFORM);
    let groups = attr_text(
        block(&platform, "module", &["eks"]).body(),
        "eks_managed_node_groups",
    );
    assert!(
        groups.contains("ami_release_version=var.node_ami_release_version"),
        "the node group takes the env root's AMI release"
    );
    assert!(
        groups.contains("use_latest_ami_release_version=false"),
        "never the latest AMI (the module's default), which would roll every node on an unrelated apply"
    );
    for env in ENVS {
        let minor = minor_of(env);
        let release = EnvRoot::load(env).module_arg("platform", "node_ami_release_version");
        let release = release.as_str().unwrap();
        let (version, date) = release
            .split_once('-')
            .unwrap_or_else(|| panic!("{env}: {release} is not <version>-<yyyymmdd>"));
        assert!(
            is_exact_semver(version) && version.starts_with(&format!("{minor}.")),
            "{env}: an AMI release for Kubernetes {minor}: {release}"
        );
        assert!(
            date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()),
            "{env}: {release}"
        );
    }
}

#[test]
fn a_value_that_is_not_an_exact_version_is_not_mistaken_for_one() {
    for v in ["6.6.0", "21.19.0"] {
        assert!(is_exact_semver(v), "{v}");
    }
    for v in ["~> 6.6", ">= 2.8", "6.6", "6.6.x", "v6.6.0", "6..0"] {
        assert!(!is_exact_semver(v), "{v}");
    }
}

/// The comment line right above the first line of `text` that starts with `key =` (after indentation).
fn comment_above<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let lines: Vec<&str> = text.lines().collect();
    let at = lines.iter().position(|l| {
        l.trim_start()
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    })?;
    lines[..at].last().map(|l| l.trim())
}

#[test]
fn renovate_proposes_every_terraform_pin_and_leaves_dependabots_ecosystems_alone() {
    let renovate: serde_json::Value =
        serde_json::from_str(&read_text("renovate.json")).expect("renovate.json is JSON");
    let managers: Vec<&str> = renovate["enabledManagers"]
        .as_array()
        .expect("enabledManagers: Renovate runs only what it owns")
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert!(
        managers.contains(&"terraform"),
        "modules, providers, helm_release charts"
    );
    assert!(
        managers.contains(&"custom.regex"),
        "EKS add-ons and the AMI release"
    );
    // One bot per dependency: whatever Dependabot updates, Renovate does not.
    let dependabot = &integration_tests::read_yaml(".github/dependabot.yml")[0];
    for update in dependabot["updates"].as_sequence().unwrap() {
        let ecosystem = update["package-ecosystem"].as_str().unwrap();
        let renovate_name = match ecosystem {
            "docker" => "dockerfile",
            other => other,
        };
        assert!(
            !managers.contains(&renovate_name),
            "Dependabot already updates {ecosystem}; Renovate must not"
        );
        assert_ne!(ecosystem, "terraform", "Renovate owns terraform");
    }
    assert_eq!(
        renovate["automerge"], false,
        "every update is a reviewed PR"
    );
    let datasources: Vec<String> = renovate["customManagers"]
        .as_array()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        datasources.iter().any(|m| m.contains("\"aws-eks-addon\"")),
        "a custom manager for the aws-eks-addon datasource"
    );

    // Each pinned build carries the marker the custom managers read, for the right add-on and minor.
    for env in ENVS {
        let path = format!("terraform/envs/{env}/main.tf");
        let text = read_text(&path);
        let minor = minor_of(env);
        let versions = hcl_to_json(&EnvRoot::load(env).module_arg("platform", "addon_versions"));
        for key in versions.as_object().unwrap().keys() {
            let comment = comment_above(&text, key)
                .unwrap_or_else(|| panic!("{path}: {key} has no line above it"));
            let filter = comment
                .strip_prefix("# renovate: eksAddonsFilter=")
                .unwrap_or_else(|| {
                    panic!("{path}: {key} needs a renovate eksAddonsFilter comment")
                });
            let filter: serde_json::Value = serde_json::from_str(filter).unwrap();
            assert_eq!(filter["kubernetesVersion"], minor.as_str(), "{path}: {key}");
            assert_eq!(filter["addonName"], key.replace('_', "-"), "{path}: {key}");
        }
        assert_eq!(
            comment_above(&text, "node_ami_release_version"),
            Some("# renovate: datasource=github-releases depName=awslabs/amazon-eks-ami"),
            "{path}: the AMI release carries the marker its custom manager reads"
        );
    }
}
