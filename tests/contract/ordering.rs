//! Apply order: no Helm release starts before the node group, the EKS add-ons and the Pod Identity
//! associations exist (credentials are injected only when a pod is created).

use std::collections::BTreeMap;

use integration_tests::read_text;

/// Every `.tf` block of a directory.
fn blocks(dir: &str) -> Vec<hcl::Block> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(integration_tests::repo_root().join(dir)).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "tf") {
            let body: hcl::Body = hcl::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            out.extend(body.into_blocks());
        }
    }
    out
}

/// The references in `depends_on = [...]` of a block body, as text.
fn depends_on(body: &hcl::Body) -> Vec<String> {
    body.attributes()
        .find(|a| a.key() == "depends_on")
        .and_then(|a| match a.expr() {
            hcl::Expression::Array(items) => Some(items.iter().map(ToString::to_string).collect()),
            _ => None,
        })
        .unwrap_or_default()
}

#[test]
fn the_pod_identities_output_waits_for_nodes_addons_and_associations() {
    let platform = blocks("terraform/modules/platform-cluster");
    let output = platform
        .iter()
        .find(|b| b.identifier() == "output" && b.labels()[0].as_str() == "pod_identities")
        .expect("output pod_identities");
    let deps = depends_on(output.body());
    // module.eks holds the managed node group and the EKS add-ons (CoreDNS, VPC CNI, the agent).
    for module in [
        "module.eks",
        "module.aws_lbc_pod_identity",
        "module.external_secrets_pod_identity",
    ] {
        assert!(
            deps.iter().any(|d| d == module),
            "output pod_identities must depend on {module}: {deps:?}"
        );
    }
    // Those modules are the ones that create the associations.
    for module in ["aws_lbc_pod_identity", "external_secrets_pod_identity"] {
        let block = platform
            .iter()
            .find(|b| b.identifier() == "module" && b.labels()[0].as_str() == module)
            .unwrap();
        assert!(
            block.body().attributes().any(|a| a.key() == "associations"),
            "{module} creates the association"
        );
    }
}

/// A release waits if it reads `var.pod_identities` or depends on a release that waits.
fn waits(name: &str, releases: &BTreeMap<String, &hcl::Block>, seen: &mut Vec<String>) -> bool {
    if seen.iter().any(|s| s == name) {
        return false;
    }
    seen.push(name.to_owned());
    let body = releases[name].body();
    let reads = body
        .attributes()
        .any(|a| a.expr().to_string().contains("var.pod_identities"));
    reads
        || depends_on(body).iter().any(|d| {
            d.strip_prefix("helm_release.")
                .is_some_and(|other| waits(other, releases, seen))
        })
}

#[test]
fn every_helm_release_waits_for_the_pod_identities() {
    let addons = blocks("terraform/modules/cluster-addons");
    let releases: BTreeMap<String, &hcl::Block> = addons
        .iter()
        .filter(|b| b.identifier() == "resource" && b.labels()[0].as_str() == "helm_release")
        .map(|b| (b.labels()[1].as_str().to_owned(), b))
        .collect();
    assert!(
        releases.len() >= 5,
        "the add-on releases: {:?}",
        releases.keys()
    );
    for name in releases.keys() {
        assert!(
            waits(name, &releases, &mut Vec::new()),
            "helm_release.{name} could start before the node group and the Pod Identity associations"
        );
    }
    // And the env roots feed the add-ons the waiting output, not a copy built from literals.
    for env in ["dev", "prod"] {
        let main = read_text(&format!("terraform/envs/{env}/main.tf"));
        let compact: String = main.split_whitespace().collect();
        assert!(
            compact.contains("pod_identities=module.platform.pod_identities"),
            "envs/{env}: module addons must take module.platform.pod_identities"
        );
    }
}
