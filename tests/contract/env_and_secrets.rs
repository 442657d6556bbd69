//! Environment and secrets against the code: every variable a manifest sets is one the app reads
//! and parses, and the Secret the pods read holds exactly the keys the app treats as secrets,
//! from the store Terraform grants, restarted on rotation.

use std::collections::BTreeSet;

use integration_tests::facts::{APPS, ENVS, env_var_names};
use integration_tests::k8s::{
    all_renderings, argocd, container, local, name, named, one, overlay, pod_env, s, secret_keys,
    secret_mount_paths, seq,
};

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
            // Files mounted from Secrets exist only in the pod; the config may read them, so stand one in.
            let stand_in = std::env::temp_dir().join(format!("contract-secret-file-{env}-{app}"));
            std::fs::write(&stand_in, "a-valid-stand-in-value-0123456789").unwrap();
            let secret_dirs = secret_mount_paths(&docs);
            // Files mounted from ConfigMaps are in the rendering: write them out where the pod would
            // see them, so the config reads the real thing (the RDS CA bundle, say).
            let config_files = config_map_files(&docs, &format!("{env}-{app}"));
            let vars: Vec<(String, String)> = pod_env(&docs)
                .into_iter()
                // Secrets and Downward API values come from the cluster; stand in valid ones.
                .map(|(k, v)| match v {
                    Some(v) if secret_dirs.iter().any(|d| v.starts_with(&format!("{d}/"))) => {
                        (k, stand_in.display().to_string())
                    }
                    Some(v) => {
                        let v = config_files
                            .iter()
                            .fold(v, |v, (path, local)| v.replace(path.as_str(), local));
                        (k, v)
                    }
                    None => (k, "a-valid-stand-in-value-0123456789".to_owned()),
                })
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
        let es = named(&docs, "ExternalSecret", "api-app-secrets");
        let target = s(&es["spec"]["target"]["name"]);
        let from: Vec<&str> = seq(&container(&docs)["envFrom"])
            .iter()
            .filter_map(|e| e["secretRef"]["name"].as_str())
            .collect();
        assert_eq!(from, [target], "{env}: envFrom secretRef");
        // Rotation reaches the pods only if Reloader watches that same Secret.
        let reload = &one(&docs, "Deployment")["metadata"]["annotations"]["secret.reloader.stakater.com/reload"];
        assert_eq!(s(reload), target, "{env}: Reloader annotation");
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
        let es = named(&docs, "ExternalSecret", "api-app-secrets");
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
        // argocd (GitHub webhook secret) and monitoring (Slack URL) read the ops secret.
        assert_eq!(
            allowed,
            [
                format!("api-app-{env}"),
                format!("demo-app-{env}"),
                "monitoring".into(),
                "argocd".into()
            ],
            "{env}: only the app namespaces, monitoring and argocd may read the store"
        );
        let wave: i64 = s(&store["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
            .parse()
            .unwrap();
        assert!(wave < 0, "{env}: the store syncs before the Applications");
    }
}

#[test]
fn secret_rotation_restarts_pods_without_argo_cd_undoing_it() {
    for env in ["dev", "prod"] {
        // Reloader stamps an annotation on the pod template (annotations strategy, set in terraform)...
        let (_, reloader) = integration_tests::terraform::helm_release(env, "reloader");
        assert_eq!(
            reloader["reloader"]["reloadStrategy"], "annotations",
            "{env}: Reloader must use the annotations strategy"
        );
        let docs = overlay(env, "api-app");
        let deployment = one(&docs, "Deployment");
        let watched =
            s(&deployment["metadata"]["annotations"]["secret.reloader.stakater.com/reload"]);
        let target =
            s(&named(&docs, "ExternalSecret", "api-app-secrets")["spec"]["target"]["name"]);
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

/// Every file the app's container sees from a `ConfigMap` volume, written to a temporary directory:
/// (path in the pod, path here).
fn config_map_files(docs: &[serde_yaml_ng::Value], tag: &str) -> Vec<(String, String)> {
    let pod = &one(docs, "Deployment")["spec"]["template"]["spec"];
    let dir = std::env::temp_dir().join(format!("contract-configmap-files-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut out = Vec::new();
    for mount in seq(&container(docs)["volumeMounts"]) {
        let Some(volume) = seq(&pod["volumes"])
            .iter()
            .find(|v| v["name"] == mount["name"] && !v["configMap"].is_null())
        else {
            continue;
        };
        let map = named(docs, "ConfigMap", s(&volume["configMap"]["name"]));
        for (key, value) in map["data"].as_mapping().into_iter().flatten() {
            let local = dir.join(s(key));
            std::fs::write(&local, s(value)).unwrap();
            out.push((
                format!("{}/{}", s(&mount["mountPath"]), s(key)),
                local.display().to_string(),
            ));
        }
    }
    out
}
