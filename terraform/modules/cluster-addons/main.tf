# In-cluster add-ons installed once by Terraform, then Argo CD's root Application hands the cluster to Git.
# Chart versions are pinned here; bump them in a PR (dev first). Values keys follow each chart's values.yaml.

locals {
  argocd_namespace = "argocd"
  root_app_name    = "root-${var.env}"
  root_app_path    = "k8s/argocd/${var.env}"

  # Dev converges on its own; prod's root only creates/updates Application objects and never prunes them,
  # and the prod Applications themselves sync manually (k8s/argocd/prod).
  root_sync_policy = {
    automated = { prune = var.env == "dev", selfHeal = true }
  }
}

resource "helm_release" "aws_load_balancer_controller" {
  name       = "aws-load-balancer-controller"
  repository = "https://aws.github.io/eks-charts"
  chart      = "aws-load-balancer-controller"
  version    = "3.5.0"
  namespace  = var.pod_identities.aws_load_balancer_controller.namespace

  wait            = true
  atomic          = true
  cleanup_on_fail = true

  values = [yamlencode({
    clusterName  = var.cluster_name
    region       = var.region
    vpcId        = var.vpc_id
    replicaCount = 2
    serviceAccount = {
      create = true
      name   = var.pod_identities.aws_load_balancer_controller.service_account
    }
  })]
}

# Every later chart creates Services, which the controller's webhook mutates: install it first and wait.

resource "helm_release" "external_secrets" {
  name             = "external-secrets"
  repository       = "https://charts.external-secrets.io"
  chart            = "external-secrets"
  version          = "2.9.0"
  namespace        = var.pod_identities.external_secrets.namespace
  create_namespace = true

  wait            = true
  atomic          = true
  cleanup_on_fail = true

  values = [yamlencode({
    installCRDs = true
    serviceAccount = {
      create = true
      name   = var.pod_identities.external_secrets.service_account
    }
  })]

  depends_on = [helm_release.aws_load_balancer_controller]
}

resource "helm_release" "reloader" {
  name             = "reloader"
  repository       = "https://stakater.github.io/stakater-charts"
  chart            = "reloader"
  version          = "2.2.16"
  namespace        = "reloader"
  create_namespace = true

  wait            = true
  atomic          = true
  cleanup_on_fail = true

  # Watches every namespace: the app namespaces are created later by Argo CD, so a namespace-scoped
  # install would fail now. Reloader acts only on workloads that carry its annotations.
  values = [yamlencode({
    reloader = {
      watchGlobally          = true
      readOnlyRootFileSystem = true
      # Restart by stamping a pod-template annotation rather than injecting an env var: the
      # Applications tell Argo CD to ignore that one annotation, so self-heal never undoes a restart.
      reloadStrategy = "annotations"
    }
  })]

  depends_on = [helm_release.aws_load_balancer_controller]
}

resource "helm_release" "argocd" {
  name             = "argocd"
  repository       = "https://argoproj.github.io/argo-helm"
  chart            = "argo-cd"
  version          = "10.1.1"
  namespace        = local.argocd_namespace
  create_namespace = true

  wait            = true
  atomic          = true
  cleanup_on_fail = true

  # No SSO is configured, so Dex would be an unused, exposed component.
  values = [
    yamlencode({
      dex = { enabled = false }
    }),
    # Argo CD Notifications -> GitHub Deployments (deployment-records.tf).
    yamlencode(local.deployment_records_values),
  ]

  # extraObjects include an ExternalSecret: ESO's CRDs must exist first.
  depends_on = [helm_release.aws_load_balancer_controller, helm_release.external_secrets]
}

# The root app-of-apps. From here on, everything in k8s/argocd/<env> is Git's business, not Terraform's.
resource "helm_release" "argocd_root_app" {
  name       = "argocd-root-app"
  repository = "https://argoproj.github.io/argo-helm"
  chart      = "argocd-apps"
  version    = "2.0.5"
  namespace  = local.argocd_namespace

  values = [yamlencode({
    applications = {
      (local.root_app_name) = {
        namespace = local.argocd_namespace
        project   = "default"
        source = {
          repoURL        = var.git_repo_url
          targetRevision = var.git_target_revision
          path           = local.root_app_path
        }
        destination = {
          server    = "https://kubernetes.default.svc"
          namespace = local.argocd_namespace
        }
        syncPolicy = local.root_sync_policy
      }
    }
  })]

  depends_on = [helm_release.argocd, helm_release.external_secrets, helm_release.reloader]
}
