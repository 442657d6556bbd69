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
        "module.argo_rollouts_pod_identity",
        "module.aws_lbc_pod_identity",
        "module.external_secrets_pod_identity",
    ] {
        assert!(
            deps.iter().any(|d| d == module),
            "output pod_identities must depend on {module}: {deps:?}"
        );
    }
    // Those modules are the ones that create the associations.
    for module in [
        "argo_rollouts_pod_identity",
        "aws_lbc_pod_identity",
        "external_secrets_pod_identity",
    ] {
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

/// The `helm_release` blocks among `blocks`, by name.
fn helm_releases(blocks: &[hcl::Block]) -> BTreeMap<String, &hcl::Block> {
    blocks
        .iter()
        .filter(|b| b.identifier() == "resource" && b.labels()[0].as_str() == "helm_release")
        .map(|b| (b.labels()[1].as_str().to_owned(), b))
        .collect()
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
    let releases = helm_releases(&addons);
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

/// The root Application is the last release: what it syncs may be admitted only once every add-on
/// it relies on is in place, above all the signature check (policy-controller's fail-closed webhook
/// and its `ClusterImagePolicy` CRD), so no app pod is admitted unjudged on a fresh cluster.
#[test]
fn the_root_application_waits_for_every_other_release() {
    let addons = blocks("terraform/modules/cluster-addons");
    let releases = helm_releases(&addons);
    // What it waits for, directly or through a release it waits for.
    let mut waited = depends_on(releases["argocd_root_app"].body());
    let mut at = 0;
    while let Some(dep) = waited.get(at).cloned() {
        at += 1;
        let next = dep
            .strip_prefix("helm_release.")
            .and_then(|name| releases.get(name))
            .map(|b| depends_on(b.body()))
            .unwrap_or_default();
        for next in next {
            if !waited.contains(&next) {
                waited.push(next);
            }
        }
    }
    assert!(releases.contains_key("policy_controller"));
    for other in releases.keys().filter(|n| *n != "argocd_root_app") {
        let other = format!("helm_release.{other}");
        assert!(
            waited.contains(&other),
            "the root Application must wait for {other}: {waited:?}"
        );
    }
}

/// Dev sleeps after hours: its node group goes to zero, and no pod can start. A release that waits
/// for pods then times out, fails the dev apply and holds back prod's behind it; so every release
/// waits exactly when the env's nodes are awake, which the platform reads from the node group itself.
#[test]
fn releases_wait_for_pods_only_while_the_nodes_are_awake() {
    let addons = blocks("terraform/modules/cluster-addons");
    let mut seen = 0;
    for release in addons
        .iter()
        .filter(|b| b.identifier() == "resource" && b.labels()[0].as_str() == "helm_release")
    {
        seen += 1;
        for key in ["wait", "atomic"] {
            let value = release
                .body()
                .attributes()
                .find(|a| a.key() == key)
                .map(|a| a.expr().to_string());
            let name = release.labels()[1].as_str();
            if name == "argocd_root_app" && value.is_none() {
                continue; // no pods of its own
            }
            assert_eq!(
                value.as_deref(),
                Some("var.wait_for_pods"),
                "helm_release.{name}.{key}"
            );
        }
    }
    assert!(seen >= 5);
    for env in ["dev", "prod"] {
        let main: String = read_text(&format!("terraform/envs/{env}/main.tf"))
            .split_whitespace()
            .collect();
        assert!(
            main.contains("wait_for_pods=module.platform.nodes_awake"),
            "envs/{env}: the add-ons wait according to the node group"
        );
    }
    let platform = blocks("terraform/modules/platform-cluster");
    let output = platform
        .iter()
        .find(|b| b.identifier() == "output" && b.labels()[0].as_str() == "nodes_awake")
        .expect("output nodes_awake");
    let value: String = output
        .body()
        .attributes()
        .find(|a| a.key() == "value")
        .unwrap()
        .expr()
        .to_string()
        .split_whitespace()
        .collect();
    assert_eq!(value, "data.aws_autoscaling_group.nodes.desired_capacity>0");
    let data = platform
        .iter()
        .find(|b| {
            b.identifier() == "data"
                && b.labels()[0].as_str() == "aws_autoscaling_group"
                && b.labels()[1].as_str() == "nodes"
        })
        .expect("data aws_autoscaling_group nodes");
    assert_eq!(
        data.body()
            .attributes()
            .find(|a| a.key() == "name")
            .unwrap()
            .expr()
            .to_string(),
        "module.eks.eks_managed_node_groups_autoscaling_group_names[0]",
        "the node group the off-hours schedule scales"
    );
}

/// Dev's database stops only after the nodes have drained (a pod still running when it stops pages
/// `DatabaseUnreachable` every evening) and starts before they come back.
#[test]
fn the_dev_database_stops_after_the_nodes_and_starts_before_them() {
    let platform = blocks("terraform/modules/platform-cluster");
    let locals: BTreeMap<String, String> = platform
        .iter()
        .filter(|b| b.identifier() == "locals")
        .flat_map(|b| b.body().attributes())
        .map(|a| {
            (
                a.key().to_owned(),
                a.expr().to_string().split_whitespace().collect(),
            )
        })
        .collect();
    let minutes = |key: &str| -> u32 {
        locals[key]
            .parse()
            .unwrap_or_else(|_| panic!("local.{key} is a literal number of minutes"))
    };
    assert!(
        minutes("database_stop_lag_minutes") >= 15,
        "the nodes drain within minutes of the scale-down; stop the database well after"
    );
    assert!(minutes("database_start_lead_minutes") >= 15);
    let stop = &locals["database_stop_minute"];
    assert!(
        stop.contains("node_schedule_fields.down")
            && stop.contains("+local.database_stop_lag_minutes"),
        "the stop minute is the scale-down plus the lag: {stop}"
    );
    let start = &locals["database_start_minute"];
    assert!(
        start.contains("node_schedule_fields.up")
            && start.contains("-local.database_start_lead_minutes"),
        "the start minute is the scale-up minus the lead: {start}"
    );
    let schedule = &locals["database_schedule"];
    let stop_at = schedule.find("stop=").expect("a stop schedule");
    let start_at = schedule.find("start=").expect("a start schedule");
    let (stop_part, start_part) = if stop_at < start_at {
        (&schedule[stop_at..start_at], &schedule[start_at..])
    } else {
        (&schedule[stop_at..], &schedule[start_at..stop_at])
    };
    assert!(
        stop_part.contains("local.database_stop_minute%60"),
        "the stop schedule uses the lagged minute: {stop_part}"
    );
    assert!(
        start_part.contains("local.database_start_minute%60"),
        "the start schedule uses the lead minute: {start_part}"
    );
}
