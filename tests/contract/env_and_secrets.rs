//! Environment and secrets against the code: every variable a manifest sets is one the app reads
//! and parses, and the Secret the pods read holds exactly the keys the app treats as secrets,
//! from the store Terraform grants, restarted on rotation.

use std::collections::BTreeSet;

use integration_tests::facts::{APPS, ENVS, env_var_names};
use integration_tests::k8s::{
    all_renderings, argocd, container, local, name, named, one, overlay, pod_env, s, secret_keys,
    seq,
};
use integration_tests::read_text;

#[test]
fn every_env_var_in_a_manifest_is_one_the_app_reads() {
    for app in APPS {
        let reads = env_var_names(app);
        for (env, docs) in all_renderings(app) {
            for var in pod_env(&docs).keys() {
                assert!(
                    reads.contains(var),
                    "{env}/{app} sets {var}, which {app} never reads ({reads:?})"
                );
            }
        }
    }
}

#[test]
fn every_overlays_settings_parse_with_the_apps_own_config() {
    for app in APPS {
        for (env, docs) in all_renderings(app) {
            let vars: Vec<(String, String)> = pod_env(&docs)
                .into_iter()
                // Secrets and Downward API values come from the cluster; stand in valid ones.
                .map(|(k, v)| (k, v.unwrap_or_else(|| "a-valid-stand-in-value-0123456789".to_owned())))
                .collect();
            let app_env = vars
                .iter()
                .find(|(k, _)| k == "APP_ENV")
                .map(|(_, v)| v.clone());
            assert_eq!(
                app_env.as_deref(),
                Some(env.as_str()),
                "{env}/{app}: APP_ENV"
            );
            let parsed = match app {
                "api-app" => api_app::config::Config::from_vars(vars).map(|_| ()),
                _ => demo_app::config::Config::from_vars(vars).map(|_| ()),
            };
            assert!(parsed.is_ok(), "{env}/{app}: {:?}", parsed.err());
        }
    }
}

#[test]
fn api_app_reads_the_secret_the_external_secret_writes() {
    for env in ENVS {
        let docs = overlay(env, "api-app");
        let es = one(&docs, "ExternalSecret");
        let target = s(&es["spec"]["target"]["name"]);
        let from: Vec<&str> = seq(&container(&docs)["envFrom"])
            .iter()
            .filter_map(|e| e["secretRef"]["name"].as_str())
            .collect();
        assert_eq!(from, [target], "{env}: envFrom secretRef");
        // That Reloader watches this same Secret is asserted with the rotation below.
    }
}

#[test]
fn the_secret_holds_exactly_the_keys_api_app_reads_as_secrets() {
    let wanted: BTreeSet<String> = api_app::config::SECRET_VARS
        .iter()
        .map(|k| (*k).to_owned())
        .collect();
    for env in ENVS {
        let docs = overlay(env, "api-app");
        let es = one(&docs, "ExternalSecret");
        assert_eq!(s(&es["apiVersion"]), "external-secrets.io/v1");
        assert_eq!(s(&es["spec"]["refreshInterval"]), "1h");
        assert_eq!(
            s(&es["spec"]["secretStoreRef"]["kind"]),
            "ClusterSecretStore"
        );
        assert_eq!(
            s(&es["spec"]["secretStoreRef"]["name"]),
            "aws-secrets-manager"
        );
        assert_eq!(
            es["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"].as_str(),
            Some("-1"),
            "before the pods"
        );
        assert_eq!(
            secret_keys(&docs, s(&es["spec"]["target"]["name"])),
            wanted,
            "{env}"
        );
        for d in seq(&es["spec"]["data"]) {
            assert_eq!(
                s(&d["remoteRef"]["key"]),
                format!("gitops/demo-api/{env}"),
                "{env}: Secrets Manager key"
            );
            assert_eq!(
                s(&d["remoteRef"]["property"]),
                s(&d["secretKey"]),
                "{env}: JSON property"
            );
        }
    }
    let local = local("api-app");
    let secret_name = seq(&container(&local)["envFrom"])
        .iter()
        .find_map(|e| e["secretRef"]["name"].as_str())
        .unwrap();
    assert_eq!(secret_keys(&local, secret_name), wanted, "local");
}

#[test]
fn the_cluster_secret_store_serves_api_app_from_eu_west_1_with_the_controllers_identity() {
    for env in ENVS {
        let docs = argocd(env);
        let store = one(&docs, "ClusterSecretStore");
        assert_eq!(name(store), "aws-secrets-manager");
        let aws = &store["spec"]["provider"]["aws"];
        assert_eq!(s(&aws["service"]), "SecretsManager");
        assert_eq!(s(&aws["region"]), "eu-west-1");
        assert!(
            aws["auth"].is_null(),
            "{env}: no auth block, ESO's Pod Identity is the identity"
        );
        let allowed: Vec<&str> = seq(&store["spec"]["conditions"])
            .iter()
            .flat_map(|c| seq(&c["namespaces"]).iter().map(s))
            .collect();
        assert_eq!(
            allowed,
            [format!("api-app-{env}")],
            "{env}: only api-app may read the store"
        );
        let wave: i64 = s(&store["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
            .parse()
            .unwrap();
        assert!(wave < 0, "{env}: the store syncs before the Applications");
    }
}

#[test]
fn secret_rotation_restarts_pods_without_argo_cd_undoing_it() {
    // Reloader stamps an annotation on the pod template (annotations strategy, set in terraform)...
    let addons = read_text("terraform/modules/cluster-addons/main.tf");
    assert!(
        addons.contains(r#"reloadStrategy = "annotations""#),
        "Reloader must use the annotations strategy"
    );
    for env in ["dev", "prod"] {
        let docs = overlay(env, "api-app");
        let deployment = one(&docs, "Deployment");
        let watched =
            s(&deployment["metadata"]["annotations"]["secret.reloader.stakater.com/reload"]);
        let target = s(&one(&docs, "ExternalSecret")["spec"]["target"]["name"]);
        assert_eq!(
            watched, target,
            "{env}: Reloader watches the secret the pods read"
        );
        // ...and the Application ignores exactly that annotation, so self-heal keeps the restart.
        let apps = argocd(env);
        let app = named(&apps, "Application", &format!("api-app-{env}"));
        let ignored: Vec<&str> = seq(&app["spec"]["ignoreDifferences"])
            .iter()
            .filter(|d| s(&d["kind"]) == "Deployment" && s(&d["name"]) == name(deployment))
            .flat_map(|d| seq(&d["jqPathExpressions"]).iter().map(s))
            .collect();
        assert_eq!(
            ignored,
            [r#".spec.template.metadata.annotations."reloader.stakater.com/last-reloaded-from""#],
            "{env}"
        );
        let options: Vec<&str> = seq(&app["spec"]["syncPolicy"]["syncOptions"])
            .iter()
            .map(s)
            .collect();
        assert!(
            options.contains(&"RespectIgnoreDifferences=true"),
            "{env}: {options:?}"
        );
    }
}
