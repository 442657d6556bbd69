# In-cluster add-ons installed once by Terraform, then Argo CD's root Application hands the cluster to Git.
# Chart versions are pinned here; bump them in a PR (dev first). Values keys follow each chart's values.yaml.

locals {
  argocd_namespace = "argocd"

  # One spec, two owners that agree: Helm installs the root Application and its project from the very
  # files the root Application then syncs from Git (k8s/argocd/<env>), so neither undoes the other.
  # Repo URL, revision, path, project and sync policy all live in those files.
  argocd_dir        = "${path.module}/../../../k8s/argocd/${var.env}"
  root_app          = yamldecode(file("${local.argocd_dir}/root.yaml"))
  bootstrap_project = yamldecode(file("${local.argocd_dir}/bootstrap-project.yaml"))
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
  values = [yamlencode({
    dex = { enabled = false }
  })]

  depends_on = [helm_release.aws_load_balancer_controller]
}

# The root app-of-apps and its project. From here on, everything in k8s/argocd/<env> is Git's business,
# not Terraform's. The argocd-apps chart takes metadata as namespace/finalizers/additionalAnnotations
# and the spec's fields at the top level (charts/argocd-apps/templates/*.yaml).
resource "helm_release" "argocd_root_app" {
  name       = "argocd-root-app"
  repository = "https://argoproj.github.io/argo-helm"
  chart      = "argocd-apps"
  version    = "2.0.5"
  namespace  = local.argocd_namespace

  values = [yamlencode({
    projects = {
      (local.bootstrap_project.metadata.name) = merge(local.bootstrap_project.spec, {
        namespace             = local.bootstrap_project.metadata.namespace
        finalizers            = local.bootstrap_project.metadata.finalizers
        additionalAnnotations = local.bootstrap_project.metadata.annotations
      })
    }
    applications = {
      (local.root_app.metadata.name) = merge(local.root_app.spec, {
        namespace             = local.root_app.metadata.namespace
        finalizers            = local.root_app.metadata.finalizers
        additionalAnnotations = local.root_app.metadata.annotations
      })
    }
  })]

  depends_on = [helm_release.argocd, helm_release.external_secrets, helm_release.reloader]
}
