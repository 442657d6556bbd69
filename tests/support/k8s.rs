//! Reading rendered `k8s/`: the overlays and Argo CD folders as `kubectl kustomize` renders them,
//! and the few lookups every contract test makes in them.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml_ng::Value;

use crate::facts::ENVS;
use crate::{kustomize, of_kind, read_yaml, repo_relative, repo_root};

/// Every local file the kustomization in `dir` (repo-relative) reads, recursively: itself, its
/// resources, components and patch files, and the files and env files its `ConfigMap` and `Secret`
/// generators read, repo-relative. A remote input fails the test: nothing
/// Argo CD renders may come from outside the repository.
pub fn kustomize_inputs(dir: &str) -> BTreeSet<String> {
    fn walk(dir: &str, out: &mut BTreeSet<String>) {
        let file = repo_relative(&repo_root().join(dir).join("kustomization.yaml"));
        if !out.insert(file.clone()) {
            return;
        }
        let dir = file.trim_end_matches("kustomization.yaml");
        let k = &read_yaml(&file)[0];
        let listed = ["resources", "components"]
            .iter()
            .flat_map(|key| k[*key].as_sequence().cloned().unwrap_or_default())
            .filter_map(|v| v.as_str().map(str::to_owned))
            .chain(
                k["patches"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["path"].as_str().map(str::to_owned)),
            )
            .chain(generator_files(k));
        for entry in listed {
            assert!(!entry.contains("://"), "{file}: remote input {entry}");
            let path = repo_root().join(dir).join(&entry);
            if path.is_dir() {
                walk(&repo_relative(&path), out);
            } else {
                out.insert(repo_relative(&path));
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, &mut out);
    out
}

/// The files a kustomization's `configMapGenerator` and `secretGenerator` read: `files` (`key=path`
/// or `path`), `envs` and the older `env`.
fn generator_files(k: &Value) -> Vec<String> {
    ["configMapGenerator", "secretGenerator"]
        .iter()
        .flat_map(|g| seq(&k[*g]).to_vec())
        .flat_map(|generator| {
            let files = seq(&generator["files"])
                .iter()
                .filter_map(Value::as_str)
                .map(|f| f.rsplit_once('=').map_or(f, |(_, path)| path).to_owned())
                .collect::<Vec<_>>();
            let envs = seq(&generator["envs"])
                .iter()
                .chain(std::iter::once(&generator["env"]))
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect::<Vec<_>>();
            files.into_iter().chain(envs)
        })
        .collect()
}

/// Whether a label selector (`matchLabels` and `matchExpressions` with `In`, `NotIn`, `Exists`,
/// `DoesNotExist`, as Kubernetes evaluates them: every term must hold) picks an object with
/// `labels`. An empty selector picks everything.
pub fn selector_picks(selector: &Value, labels: &Value) -> bool {
    let label = |key: &str| labels[key].as_str();
    let by_labels = selector["matchLabels"]
        .as_mapping()
        .into_iter()
        .flatten()
        .all(|(key, value)| label(s(key)) == value.as_str());
    let by_expressions = seq(&selector["matchExpressions"]).iter().all(|expr| {
        let actual = label(s(&expr["key"]));
        let listed = |v: &str| seq(&expr["values"]).iter().any(|x| x.as_str() == Some(v));
        match s(&expr["operator"]) {
            "In" => actual.is_some_and(listed),
            "NotIn" => !actual.is_some_and(listed),
            "Exists" => actual.is_some(),
            "DoesNotExist" => actual.is_none(),
            other => panic!("unknown selector operator {other}"),
        }
    });
    by_labels && by_expressions
}

/// One app's overlay for one environment, rendered.
pub fn overlay(env: &str, app: &str) -> Vec<Value> {
    kustomize(&format!("k8s/overlays/{env}/{app}"))
}

/// One environment's Argo CD folder, rendered.
pub fn argocd(env: &str) -> Vec<Value> {
    kustomize(&format!("k8s/argocd/{env}"))
}

/// The local overlay's objects for one app (each app has its own namespace there too).
pub fn local(app: &str) -> Vec<Value> {
    let ns = format!("{app}-local");
    kustomize("k8s/overlays/local")
        .into_iter()
        .filter(|d| d["metadata"]["namespace"].as_str() == Some(ns.as_str()))
        .collect()
}

/// The app's overlay in every environment, local included, with the environment's name.
pub fn all_renderings(app: &str) -> Vec<(String, Vec<Value>)> {
    let mut out: Vec<_> = ENVS
        .iter()
        .map(|env| ((*env).to_owned(), overlay(env, app)))
        .collect();
    out.push(("local".to_owned(), local(app)));
    out
}

/// A string value; panics naming what was there instead.
pub fn s(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v:?}"))
}

/// `metadata.name`.
pub fn name(v: &Value) -> &str {
    s(&v["metadata"]["name"])
}

/// The one object of `kind`; panics if there is none or more than one.
pub fn one<'a>(docs: &'a [Value], kind: &'a str) -> &'a Value {
    let found: Vec<_> = of_kind(docs, kind).collect();
    assert_eq!(
        found.len(),
        1,
        "expected exactly one {kind}, found {}",
        found.len()
    );
    found[0]
}

/// The object of `kind` called `wanted`.
pub fn named<'a>(docs: &'a [Value], kind: &'a str, wanted: &str) -> &'a Value {
    of_kind(docs, kind)
        .find(|d| name(d) == wanted)
        .unwrap_or_else(|| panic!("no {kind} named {wanted}"))
}

/// The `ConfigMap`s a pod spec reads: mounted as volumes, or named by its containers' (init
/// containers' too) `envFrom` and `env` keys.
pub fn configmaps_read(pod: &Value) -> BTreeSet<String> {
    let containers = seq(&pod["initContainers"])
        .iter()
        .chain(seq(&pod["containers"]));
    let from_env = containers.flat_map(|c| {
        let whole = seq(&c["envFrom"])
            .iter()
            .map(|e| &e["configMapRef"]["name"]);
        let by_key = seq(&c["env"])
            .iter()
            .map(|e| &e["valueFrom"]["configMapKeyRef"]["name"]);
        whole.chain(by_key)
    });
    seq(&pod["volumes"])
        .iter()
        .map(|v| &v["configMap"]["name"])
        .chain(from_env)
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// An object's Argo CD sync wave (0 when it names none).
pub fn sync_wave(obj: &Value) -> i64 {
    obj["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
        .as_str()
        .map_or(0, |w| w.parse().expect("a sync wave is a whole number"))
}

/// A sequence's items, or none when the value is absent.
pub fn seq(v: &Value) -> &[Value] {
    v.as_sequence().map_or(&[], Vec::as_slice)
}

/// A mapping's keys.
pub fn keys(map: &Value) -> BTreeSet<String> {
    map.as_mapping()
        .map(|m| m.keys().map(|k| s(k).to_owned()).collect())
        .unwrap_or_default()
}

/// The app's one container.
pub fn container(docs: &[Value]) -> &Value {
    let containers = seq(&one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]);
    assert_eq!(containers.len(), 1, "one container per pod");
    &containers[0]
}

/// The keys of the Secret called `secret` as this rendering produces it: an `ExternalSecret`'s
/// `secretKey`s in the clusters, a generated Secret's keys locally.
pub fn secret_keys(docs: &[Value], secret: &str) -> BTreeSet<String> {
    if let Some(es) =
        of_kind(docs, "ExternalSecret").find(|d| s(&d["spec"]["target"]["name"]) == secret)
    {
        return seq(&es["spec"]["data"])
            .iter()
            .map(|d| s(&d["secretKey"]).to_owned())
            .collect();
    }
    if let Some(secret) = of_kind(docs, "Secret").find(|d| name(d) == secret) {
        return keys(&secret["data"]);
    }
    panic!("nothing in this rendering produces Secret {secret}");
}

/// Every environment variable the rendered pod receives, with its value where the manifest holds it
/// (`None` for Downward API and Secret values).
pub fn pod_env(docs: &[Value]) -> BTreeMap<String, Option<String>> {
    let c = container(docs);
    let mut vars = BTreeMap::new();
    for source in seq(&c["envFrom"]) {
        if let Some(cm) = source["configMapRef"]["name"].as_str() {
            let data = &named(docs, "ConfigMap", cm)["data"];
            for (k, v) in data.as_mapping().expect("ConfigMap data") {
                vars.insert(s(k).to_owned(), Some(s(v).to_owned()));
            }
        } else if let Some(secret) = source["secretRef"]["name"].as_str() {
            vars.extend(secret_keys(docs, secret).into_iter().map(|k| (k, None)));
        } else {
            panic!("unexpected envFrom source {source:?}");
        }
    }
    for e in seq(&c["env"]) {
        vars.insert(
            s(&e["name"]).to_owned(),
            e["value"].as_str().map(str::to_owned),
        );
    }
    vars
}

/// Where the app's container mounts Secret volumes.
pub fn secret_mount_paths(docs: &[Value]) -> Vec<String> {
    let pod = &one(docs, "Deployment")["spec"]["template"]["spec"];
    let secret_volumes: Vec<&str> = seq(&pod["volumes"])
        .iter()
        .filter(|v| !v["secret"].is_null())
        .map(|v| s(&v["name"]))
        .collect();
    seq(&container(docs)["volumeMounts"])
        .iter()
        .filter(|m| secret_volumes.contains(&s(&m["name"])))
        .map(|m| s(&m["mountPath"]).to_owned())
        .collect()
}

/// Renders one Application's source path as Argo CD does when the Application carries
/// `spec.source.kustomize.patches`: Argo CD adds them to the kustomization's `patches` before it
/// builds. The folder is rendered from a copy of `k8s/`, so the repository is never touched.
pub fn render_with_patches(path: &str, patches: &[serde_json::Value]) -> Vec<Value> {
    let rel = path
        .strip_prefix("k8s/")
        .unwrap_or_else(|| panic!("{path} is not under k8s/"));
    let copy = std::env::temp_dir().join(format!(
        "argocd-render-{}-{}",
        std::process::id(),
        rel.replace('/', "_")
    ));
    if copy.exists() {
        std::fs::remove_dir_all(&copy).expect("a stale render copy can be removed");
    }
    copy_dir(&crate::repo_root().join("k8s"), &copy.join("k8s"));
    let kustomization = copy.join(path).join("kustomization.yaml");
    let mut k: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(&kustomization).expect("the copied kustomization.yaml"),
    )
    .expect("kustomization.yaml is YAML");
    let added: Vec<Value> = patches
        .iter()
        .map(|p| serde_yaml_ng::to_value(p).expect("a patch is YAML"))
        .collect();
    match k["patches"].as_sequence_mut() {
        Some(list) => list.extend(added),
        None => k["patches"] = Value::Sequence(added),
    }
    std::fs::write(
        &kustomization,
        serde_yaml_ng::to_string(&k).expect("the kustomization serialises"),
    )
    .expect("the copy is writable");
    let docs = crate::kustomize(&copy.join(path).display().to_string());
    std::fs::remove_dir_all(&copy).expect("the render copy can be removed");
    docs
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("a temporary directory");
    for entry in std::fs::read_dir(from).expect("k8s/ is readable") {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("a copy of a k8s/ file");
        }
    }
}
