# Signed images enforced at admission: Sigstore policy-controller refuses any pod in the app namespaces
# whose image lacks a signature from this repository's release workflow on main. The policies are Git's
# (k8s/admission, synced by the root Application); this release supplies the engine and its CRDs.

locals {
  # The namespaces Argo CD deploys the apps into (k8s/argocd/<env>). Selected by name, so no
  # Application has to label its namespace, and nothing outside them (kube-system, argocd...) is judged.
  admission_namespaces = ["api-app-${var.env}", "demo-app-${var.env}"]
}

resource "helm_release" "policy_controller" {
  name             = "policy-controller"
  repository       = "https://sigstore.github.io/helm-charts"
  chart            = "policy-controller"
  version          = "0.10.6"
  namespace        = "cosign-system"
  create_namespace = true

  wait            = var.wait_for_pods
  atomic          = var.wait_for_pods
  cleanup_on_fail = true
  # The chart's only hook is a post-delete Job on a floating image (cgr.dev/chainguard/kubectl:latest-dev)
  # that deletes the webhook's leases; deleting the namespace does the same, and nothing unpinned runs.
  disable_webhooks = true

  values = [yamlencode({
    webhook = {
      # Fail closed: while no webhook answers, no pod starts in the enforced namespaces. Two replicas
      # (the chart's PodDisruptionBudget keeps one) so a node drain never stops deploys.
      replicaCount  = 2
      failurePolicy = "Fail"
      namespaceSelector = {
        matchExpressions = [{
          key      = "kubernetes.io/metadata.name"
          operator = "In"
          values   = local.admission_namespaces
        }]
      }
      # An image no ClusterImagePolicy names is refused, not admitted with a warning.
      configData = { "no-match-policy" = "deny" }
    }
  })]

  # Its Service is mutated by the Load Balancer Controller's webhook, like every chart's.
  depends_on = [helm_release.aws_load_balancer_controller]
}
