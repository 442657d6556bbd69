//! Provider versions resolve the same everywhere: every root pins every provider it runs with an
//! exact version (their hashes are in the committed lock files, tests/contract/locks.rs), and the
//! roots agree with each other.

use std::collections::BTreeMap;

use integration_tests::repo_root;

/// `required_providers` of a directory's `.tf` files: name -> version constraint text.
pub(crate) fn required_providers(dir: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(repo_root().join(dir)).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "tf") {
            continue;
        }
        let body: hcl::Body = hcl::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for tf in body.blocks().filter(|b| b.identifier() == "terraform") {
            for rp in tf
                .body()
                .blocks()
                .filter(|b| b.identifier() == "required_providers")
            {
                for a in rp.body().attributes() {
                    let hcl::Expression::Object(spec) = a.expr() else {
                        panic!("{dir}: provider {} needs {{ source, version }}", a.key())
                    };
                    let version = spec
                        .iter()
                        .find(|(k, _)| k.to_string().trim_matches('"') == "version")
                        .map(|(_, v)| v.to_string().trim_matches('"').to_owned())
                        .unwrap_or_default();
                    out.insert(a.key().to_owned(), version);
                }
            }
        }
    }
    out
}

fn is_exact(version: &str) -> bool {
    let v = version.trim_start_matches('=').trim();
    v.split('.').count() == 3
        && v.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

#[test]
fn every_root_pins_every_provider_exactly_and_the_roots_agree() {
    // What the env roots run: their own modules' providers, plus the EKS module's tls and time.
    let mut needed: Vec<String> = ["platform-cluster", "cluster-addons"]
        .iter()
        .flat_map(|m| required_providers(&format!("terraform/modules/{m}")).into_keys())
        .chain(["tls".to_owned(), "time".to_owned()])
        .collect();
    needed.sort();
    needed.dedup();

    let dev = required_providers("terraform/envs/dev");
    let prod = required_providers("terraform/envs/prod");
    for name in &needed {
        let version = dev
            .get(name)
            .unwrap_or_else(|| panic!("envs/dev does not pin {name}"));
        assert!(
            is_exact(version),
            "envs/dev: {name} = \"{version}\" floats; pin an exact x.y.z"
        );
    }
    assert_eq!(
        dev, prod,
        "dev and prod must run the same provider versions"
    );

    let bootstrap = required_providers("terraform/bootstrap");
    assert!(is_exact(&bootstrap["aws"]), "bootstrap: aws must be exact");
    assert_eq!(
        bootstrap["aws"], dev["aws"],
        "bootstrap and the envs run the same aws provider"
    );

    // Reusable modules state minimums only (the terraform-aws-modules convention).
    for m in ["platform-cluster", "cluster-addons"] {
        for (name, version) in required_providers(&format!("terraform/modules/{m}")) {
            assert!(
                version.starts_with(">="),
                "modules/{m}: {name} states a minimum, not {version}"
            );
        }
    }
}
