//! The image SBOM names every Rust crate: the binary is built with cargo-auditable, which embeds
//! the dependency list that `BuildKit`'s SBOM scanner reads from an otherwise opaque static binary.

use integration_tests::read_text;

use std::collections::BTreeSet;

/// The Dockerfile's logical lines (continuations joined).
fn dockerfile_lines() -> Vec<String> {
    read_text("Dockerfile")
        .replace("\\\n", " ")
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn the_release_binary_is_built_with_cargo_auditable() {
    let lines = dockerfile_lines();
    let installs: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("RUN ") && l.contains("cargo install"))
        .collect();
    assert!(
        installs.iter().any(|l| l.contains("--locked")
            && l.split_whitespace()
                .any(|w| w.starts_with("cargo-auditable@") && w.matches('.').count() == 2)),
        "cargo-auditable must be installed at an exact version with --locked: {installs:?}"
    );
    // Every cargo command that produces the shipped binary goes through `cargo auditable`.
    let builds: Vec<&String> = lines
        .iter()
        .filter(|l| {
            l.starts_with("RUN ") && l.contains(" build ") && l.contains("--package \"$APP\"")
        })
        .collect();
    assert_eq!(builds.len(), 1, "one build of the app: {builds:?}");
    assert!(
        builds[0].contains("cargo auditable build --release --locked"),
        "the app binary must be built by `cargo auditable build`: {}",
        builds[0]
    );
    assert!(
        !builds[0]
            .replace("cargo auditable build", "")
            .contains("cargo build"),
        "no plain cargo build of the app"
    );
}

#[test]
fn the_release_publishes_the_sbom_for_both_apps() {
    let release = read_text(".github/workflows/release.yml");
    let settings: BTreeSet<&str> = release.lines().map(str::trim).collect();
    // An SBOM attestation, made by the pinned scanner (workflows.rs checks which).
    assert!(
        settings.iter().any(|l| l.starts_with("sbom: generator=")),
        "release.yml must attach the SBOM attestation"
    );
    assert!(settings.contains("provenance: mode=max"));
}
