//! What each Argo CD Application deploys, by repository path: the manifests it renders and the
//! files its image is built from. A change reaches an environment only through one of the two.
//!
//! tests/contract/delivery.rs checks this table against the kustomizations, k8s/argocd and the
//! Dockerfile's build context, so a new component or crate cannot be left out silently.

/// One app, deployed to each environment as the Argo CD Application `<app>-<env>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Application {
    pub app: &'static str,
    /// What its overlay pulls in besides itself (`k8s/overlays/<env>/<app>/`): bases, components.
    pub renders: &'static [&'static str],
    /// The image's inputs (a path ending in `/` is a folder); empty for plain manifests.
    pub image: &'static [&'static str],
}

/// The image inputs both Rust apps share: the workspace manifest, the lock file, the build recipe
/// and the shared crate.
const WORKSPACE: [&str; 4] = ["Cargo.toml", "Cargo.lock", "Dockerfile", "platform/"];
/// Components both apps' overlays pull in (zone-spread-strict: prod's only), and the canary
/// analysis both bases list.
const SHARED_COMPONENTS: [&str; 4] = [
    "k8s/components/alb/",
    "k8s/components/registry-pull/",
    "k8s/components/zone-spread-strict/",
    "k8s/base/canary-analysis/",
];

pub const APPLICATIONS: &[Application] = &[
    Application {
        app: "api-app",
        renders: &[
            "k8s/base/api-app/",
            "k8s/components/aws/api-app/",
            "k8s/components/scrape/api-app/",
            "k8s/components/database-bootstrap/",
            "k8s/components/database-tls/",
            SHARED_COMPONENTS[0],
            SHARED_COMPONENTS[1],
            SHARED_COMPONENTS[2],
            SHARED_COMPONENTS[3],
        ],
        image: &[
            "api-app/",
            WORKSPACE[0],
            WORKSPACE[1],
            WORKSPACE[2],
            WORKSPACE[3],
        ],
    },
    Application {
        app: "demo-app",
        renders: &[
            "k8s/base/demo-app/",
            "k8s/components/aws/demo-app/",
            "k8s/components/scrape/demo-app/",
            SHARED_COMPONENTS[0],
            SHARED_COMPONENTS[1],
            SHARED_COMPONENTS[2],
            SHARED_COMPONENTS[3],
        ],
        image: &[
            "demo-app/",
            WORKSPACE[0],
            WORKSPACE[1],
            WORKSPACE[2],
            WORKSPACE[3],
        ],
    },
    Application {
        app: "monitoring",
        renders: &["k8s/base/monitoring/"],
        image: &[],
    },
];

/// Which of an Application's inputs a commit touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Touches {
    pub manifests: bool,
    pub image: bool,
}

impl Touches {
    /// What a commit whose files are unknown is taken to touch: everything, so no change is lost.
    pub const EVERYTHING: Self = Self {
        manifests: true,
        image: true,
    };
}

/// `api-app-dev` → (`api-app`, `dev`); `None` for a name with no environment suffix.
pub fn split_name(environment: &str) -> Option<(&str, &str)> {
    environment.rsplit_once('-')
}

/// The Application a GitHub environment records, if this table knows it.
pub fn find(environment: &str) -> Option<(&'static Application, &str)> {
    let (app, env) = split_name(environment)?;
    let application = APPLICATIONS.iter().find(|a| a.app == app)?;
    Some((application, env))
}

impl Application {
    /// Which of its inputs in `env` the files of one commit touch.
    pub fn touches<'a>(&self, env: &str, files: impl IntoIterator<Item = &'a str>) -> Touches {
        let overlay = format!("k8s/overlays/{env}/{}/", self.app);
        let mut touches = Touches::default();
        for file in files {
            touches.manifests |=
                file.starts_with(&overlay) || self.renders.iter().any(|p| under(file, p));
            touches.image |= self.image.iter().any(|p| under(file, p));
        }
        touches
    }
}

fn under(file: &str, path: &str) -> bool {
    if path.ends_with('/') {
        file.starts_with(path)
    } else {
        file == path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_touches_the_manifests_of_its_env_and_the_image_of_its_app() {
        let (api, env) = find("api-app-prod").unwrap();
        assert_eq!(env, "prod");
        let t = |files: &[&str]| api.touches("prod", files.iter().copied());
        assert_eq!(
            t(&["api-app/src/routes/tasks.rs"]),
            Touches {
                manifests: false,
                image: true
            }
        );
        assert_eq!(
            t(&["k8s/overlays/prod/api-app/kustomization.yaml"]),
            Touches {
                manifests: true,
                image: false
            }
        );
        // A folder inside the overlay (dev's settings/ Component) is the overlay's.
        assert_eq!(
            api.touches(
                "dev",
                ["k8s/overlays/dev/api-app/settings/kustomization.yaml"]
            ),
            Touches {
                manifests: true,
                image: false
            }
        );
        assert_eq!(
            t(&["Cargo.lock", "k8s/base/api-app/deployment.yaml"]),
            Touches::EVERYTHING
        );
        // Another env's overlay, another app's code, a file that only shares a prefix: none.
        assert_eq!(
            t(&[
                "k8s/overlays/dev/api-app/kustomization.yaml",
                "demo-app/src/main.rs",
                "Cargo.toml.orig",
                "README.md",
            ]),
            Touches::default()
        );
    }

    #[test]
    fn only_application_names_with_a_known_app_are_found() {
        assert_eq!(
            find("monitoring-dev").map(|(a, e)| (a.app, e)),
            Some(("monitoring", "dev"))
        );
        assert!(find("registry").is_none());
        assert!(find("billing-dev").is_none());
    }
}
