//! Cluster identity: Pod Identity is the only way pods get AWS roles, so nothing else may exist.

use integration_tests::read_text;

/// The `module "eks"` block of the platform module.
fn eks_module() -> hcl::Body {
    let body: hcl::Body =
        hcl::from_str(&read_text("terraform/modules/platform-cluster/main.tf")).unwrap();
    body.blocks()
        .find(|b| {
            b.identifier() == "module" && b.labels().first().is_some_and(|l| l.as_str() == "eks")
        })
        .expect("module \"eks\"")
        .body()
        .clone()
}

#[test]
fn the_cluster_creates_no_irsa_oidc_provider() {
    let eks = eks_module();
    let irsa = eks
        .attributes()
        .find(|a| a.key() == "enable_irsa")
        .map(|a| a.expr().to_string());
    // The module defaults enable_irsa to true, so leaving it out is not enough.
    assert_eq!(
        irsa.as_deref(),
        Some("false"),
        "enable_irsa must be false: Pod Identity does the work and an unused OIDC provider is only attack surface"
    );
}
