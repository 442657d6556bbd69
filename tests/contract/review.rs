//! Review covers every path: every tracked file has a code owner except the two files the dev bump
//! writes, and everything that renders prod (every file a prod Application or the prod Terraform root
//! reads) or steers the pipeline is owned by the prod approvers (chosen over pinning prod to a
//! promoted revision: one branch, and a shared base change is reviewed where it is made).

use std::collections::BTreeSet;
use std::path::Path;

use integration_tests::k8s::kustomize_inputs;
use integration_tests::{kustomize, of_kind, read_text, read_yaml, repo_relative, repo_root};

const PROD_APPROVERS: &str = "@gitops-platform/prod-approvers";

/// CODEOWNERS rules in file order: (pattern, owners). The last matching rule wins, as on GitHub.
fn codeowners() -> Vec<(String, Vec<String>)> {
    read_text(".github/CODEOWNERS")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut words = l.split_whitespace().map(str::to_owned);
            (words.next().unwrap(), words.collect())
        })
        .collect()
}

/// The owners of a repository path under the patterns this repo uses (`*`, `/dir/`, `/file`). A rule
/// with no owners leaves its paths without one.
fn owners_of(rules: &[(String, Vec<String>)], path: &str) -> Vec<String> {
    rules
        .iter()
        .rev()
        .find(|(pattern, _)| {
            if pattern == "*" {
                return true;
            }
            let anchored = pattern
                .strip_prefix('/')
                .unwrap_or_else(|| panic!("CODEOWNERS pattern {pattern} must be anchored with /"));
            match anchored.strip_suffix('/') {
                Some(dir) => path.starts_with(&format!("{dir}/")),
                None => path == anchored || path.starts_with(&format!("{anchored}/")),
            }
        })
        .map(|(_, owners)| owners.clone())
        .unwrap_or_default()
}

/// Every file a Terraform root and the local modules it calls read: their `.tf` files, and the
/// other files beside them (templates under `iam/`, a provisioner's script, the lock file), but not
/// their docs or test files.
fn terraform_inputs(dir: &Path, out: &mut BTreeSet<String>) {
    fn beside(dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                let holds_tf = std::fs::read_dir(&path)
                    .unwrap()
                    .any(|e| e.unwrap().path().extension().is_some_and(|x| x == "tf"));
                // A folder of .tf files is a module of its own (walked if called); a .terraform
                // folder is a local download.
                if !holds_tf && name != ".terraform" && name != "tests" {
                    beside(&path, out);
                }
            } else if path.extension().is_none_or(|x| x != "md") && !name.ends_with(".tftest.hcl") {
                out.insert(repo_relative(&path));
            }
        }
    }
    let dir = dir.canonicalize().unwrap();
    let visited = std::fs::read_dir(&dir)
        .unwrap()
        .any(|e| out.contains(&repo_relative(&e.unwrap().path())));
    if visited {
        return;
    }
    beside(&dir, out);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "tf") {
            let body: hcl::Body = hcl::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            for module in body.blocks().filter(|b| b.identifier() == "module") {
                let source = module
                    .body()
                    .attributes()
                    .find(|a| a.key() == "source")
                    .map(|a| a.expr().to_string().trim_matches('"').to_owned())
                    .unwrap();
                if source.starts_with("./") || source.starts_with("../") {
                    terraform_inputs(&dir.join(source), out);
                }
            }
        }
    }
}

/// Every file whose change can change what runs in prod.
fn files_that_render_prod() -> BTreeSet<String> {
    let root = repo_root();
    let mut files = BTreeSet::new();
    // The root Application and its project are installed by terraform/ (modules/cluster-addons reads
    // them), not synced: start the walk from root.yaml as well.
    let mut argocd = kustomize("k8s/argocd/prod");
    for installed in [
        "k8s/argocd/prod/root.yaml",
        "k8s/argocd/prod/bootstrap-project.yaml",
    ] {
        files.insert(installed.to_owned());
        argocd.extend(read_yaml(installed));
    }
    for app in of_kind(&argocd, "Application") {
        let path = app["spec"]["source"]["path"].as_str().unwrap();
        files.extend(kustomize_inputs(path));
    }
    terraform_inputs(&root.join("terraform/envs/prod"), &mut files);
    files
}

#[test]
fn prod_approvers_own_every_file_that_renders_prod() {
    let rules = codeowners();
    let files = files_that_render_prod();
    for must in [
        "k8s/overlays/prod/api-app/kustomization.yaml",
        "k8s/base/api-app/deployment.yaml",
        "k8s/components/alb/kustomization.yaml",
        "k8s/argocd/prod/root.yaml",
        "terraform/envs/prod/main.tf",
        "terraform/modules/platform-cluster/main.tf",
    ] {
        assert!(files.contains(must), "the walk must find {must}: {files:?}");
    }
    let unreviewed: Vec<_> = files
        .iter()
        .filter(|f| !owners_of(&rules, f).iter().any(|o| o == PROD_APPROVERS))
        .collect();
    assert!(
        unreviewed.is_empty(),
        "these files render prod but prod approvers do not own them in .github/CODEOWNERS: {unreviewed:?}"
    );
}

#[test]
fn prod_applications_track_main_so_codeowners_is_the_gate() {
    // The chosen design: one branch. If prod ever pins a promoted revision instead, this test and the
    // CODEOWNERS rule above must change together.
    for app in of_kind(&kustomize("k8s/argocd/prod"), "Application") {
        assert_eq!(
            app["spec"]["source"]["targetRevision"].as_str(),
            Some("main")
        );
    }
}

/// The files the dev bump and a dev rollback write (release.yml's and rollback.yml's `add-paths`).
fn bot_written_dev_files() -> BTreeSet<String> {
    let release = crate::workflows::workflow("release");
    let bump = crate::workflows::step_using(
        &release["jobs"]["bump-dev"],
        "peter-evans/create-pull-request@",
    );
    crate::workflows::lines(&bump["with"]["add-paths"])
}

#[test]
fn every_tracked_file_has_an_owner_except_what_the_dev_bump_writes() {
    let rules = codeowners();
    let out = std::process::Command::new("git")
        .args(["ls-files"])
        .current_dir(repo_root())
        .output()
        .unwrap();
    let files: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(files.len() > 100, "git ls-files lists the repository");
    let bot = bot_written_dev_files();
    assert_eq!(bot.len(), 2, "{bot:?}");
    for file in files.iter().chain(&bot) {
        let owners = owners_of(&rules, file);
        if bot.contains(file) {
            assert!(
                owners.is_empty(),
                "{file}: the bump PR must merge itself, so no code owner: {owners:?}"
            );
        } else {
            assert!(!owners.is_empty(), "{file} has no code owner");
        }
    }
    for must in [
        "api-app/src/main.rs",
        "Cargo.lock",
        "Dockerfile",
        "Makefile",
        "tests/contract/main.rs",
        "k8s/overlays/dev/monitoring/kustomization.yaml",
    ] {
        assert!(!owners_of(&rules, must).is_empty(), "{must} has an owner");
    }
}

/// The shape of each file the dev bump writes, with its `images` taken out: anything else in a
/// file without a code owner would merge unreviewed with the next bump, so it lives in the
/// overlay's `settings/` Component, which has owners.
const DEV_PIN_FILES: &str = r"
k8s/overlays/dev/api-app/kustomization.yaml:
  apiVersion: kustomize.config.k8s.io/v1beta1
  kind: Kustomization
  namespace: api-app-dev
  resources: [../../../base/api-app]
  components:
    - ../../../components/aws/api-app
    - ../../../components/database-bootstrap
    - ../../../components/database-tls
    - ../../../components/registry-pull
    - ./settings
k8s/overlays/dev/demo-app/kustomization.yaml:
  apiVersion: kustomize.config.k8s.io/v1beta1
  kind: Kustomization
  namespace: demo-app-dev
  resources: [../../../base/demo-app]
  components:
    - ../../../components/aws/demo-app
    - ../../../components/registry-pull
    - ./settings
";

#[test]
fn the_files_without_an_owner_hold_the_image_pins_and_nothing_else() {
    let want: serde_yaml_ng::Mapping = serde_yaml_ng::from_str(DEV_PIN_FILES).unwrap();
    let bot = bot_written_dev_files();
    let described: BTreeSet<String> = want
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(described, bot, "the shape of every file the bump writes");
    for file in &bot {
        let mut got = read_yaml(file).remove(0);
        let images = got
            .as_mapping_mut()
            .unwrap()
            .remove("images")
            .unwrap_or_else(|| panic!("{file} pins its image"));
        assert_eq!(
            &got,
            &want[file.as_str()],
            "{file} holds something besides the image pin: move it to settings/"
        );
        let app = file.split('/').nth(3).unwrap();
        let [pin] = images.as_sequence().unwrap().as_slice() else {
            panic!("{file}: one image: {images:?}")
        };
        assert_eq!(pin["name"].as_str(), Some(app), "{file}");
        for key in pin.as_mapping().unwrap().keys() {
            assert!(
                ["name", "newName", "newTag", "digest"].contains(&key.as_str().unwrap()),
                "{file}: an image pin has no {key:?}"
            );
        }
    }
}

#[test]
fn prod_approvers_own_the_pipeline_its_scripts_and_devs_infrastructure() {
    let rules = codeowners();
    for path in [
        ".github/workflows/ci.yml",
        ".github/CODEOWNERS",
        ".github/registry.env",
        "scripts/overlay-only.sh",
        "scripts/required-checks.sh",
        "scripts/rollback.sh",
        "terraform/envs/dev/main.tf",
        "k8s/admission/clusterimagepolicy.yaml",
        "deny.toml",
    ] {
        assert!(
            owners_of(&rules, path).iter().any(|o| o == PROD_APPROVERS),
            "{path} steers what reaches prod: prod approvers own it"
        );
    }
}
