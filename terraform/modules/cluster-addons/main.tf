# In-cluster add-ons installed once by Terraform, then Argo CD's root Application hands the cluster to Git.
# Chart versions are pinned here; bump them in a PR (dev first). Values keys follow each chart's values.yaml.

locals {
  argocd_namespace = "argocd"
  # The Load Balancer Controller's IngressClass (spec.ingressClassName of every Ingress in k8s/).
  ingress_class = "alb"
  # kube-prometheus-stack's namespace; k8s/overlays/<env>/monitoring deploys into it.
  monitoring_namespace = "monitoring"

  # One owner: Helm installs the root Application and its project from these files in k8s/argocd/<env>,
  # which the root app itself does not sync (its kustomization leaves them out). Repo URL, revision,
  # path, project and sync policy all live in those files; a change there reaches the cluster here.
  argocd_dir        = "${path.module}/../../../k8s/argocd/${var.env}"
  root_app          = yamldecode(file("${local.argocd_dir}/root.yaml"))
  bootstrap_project = yamldecode(file("${local.argocd_dir}/bootstrap-project.yaml"))

  # What exists only after the AWS side is applied and an Application needs, as Kustomize patches the
  # root app adds to that Application's source (Argo CD's spec.source.kustomize.patches). Git holds
  # everything else of those objects, and placeholders that fail closed: the api-app overlay's
  # DATABASE_URL names host SET-BY-TERRAFORM, its bootstrap ExternalSecret reads key SET-BY-TERRAFORM.
  cluster_facts = {
    "api-app-${var.env}" = [
      {
        target = { kind = "ConfigMap", name = "api-app-config" }
        patch  = jsonencode([{ op = "replace", path = "/data/DATABASE_URL", value = var.database_url }])
      },
      {
        target = { kind = "ExternalSecret", name = "api-app-db-admin" }
        patch = jsonencode([
          for i in [0, 1] : { op = "replace", path = "/spec/data/${i}/remoteRef/key", value = var.database_master_secret_arn }
        ])
      },
    ]
  }
  root_app_facts = [
    for app, patches in local.cluster_facts : {
      target = { group = "argoproj.io", kind = "Application", name = app }
      patch  = jsonencode([{ op = "add", path = "/spec/source/kustomize", value = { patches = patches } }])
    }
  ]
}

resource "helm_release" "aws_load_balancer_controller" {
  name       = "aws-load-balancer-controller"
  repository = "https://aws.github.io/eks-charts"
  chart      = "aws-load-balancer-controller"
  version    = "3.5.0"
  namespace  = var.pod_identities.aws_load_balancer_controller.namespace

  wait            = var.wait_for_pods
  atomic          = var.wait_for_pods
  cleanup_on_fail = true

  values = [yamlencode({
    clusterName  = var.cluster_name
    region       = var.region
    vpcId        = var.vpc_id
    replicaCount = 2
    # On every load balancer, target group and security group it makes: the tag the env's
    # permissions boundary keeps the other env's roles off (terraform/bootstrap/iam/boundary.json.tftpl).
    defaultTags = { "gitops/environment" = var.env }
    serviceAccount = {
      create = true
      name   = var.pod_identities.aws_load_balancer_controller.service_account
    }
    # The IngressClass every Ingress in k8s/ names, and its parameters: what only exists after an apply
    # (the ACM certificate, the WAF web ACL) reaches every Ingress of the class from here, not from Git.
    ingressClass               = local.ingress_class
    createIngressClassResource = true
    ingressClassParams = {
      create = true
      name   = local.ingress_class
      spec = {
        certificateArn = [var.certificate_arn]
        wafv2AclArn    = var.web_acl_arn
      }
    }
  })]
}

# Every later chart creates Services, which the controller's webhook mutates: install it first and wait.

# Metrics, alerts and dashboards for the cluster. Git (k8s/overlays/<env>/monitoring and each app's
# ServiceMonitor) supplies the rules, the alert routing and the dashboard; this release supplies the
# engines, so it goes first: the charts below ship ServiceMonitors, whose CRD it installs.
resource "helm_release" "kube_prometheus_stack" {
  name             = "kube-prometheus-stack"
  repository       = "https://prometheus-community.github.io/helm-charts"
  chart            = "kube-prometheus-stack"
  version          = "88.5.3"
  namespace        = local.monitoring_namespace
  create_namespace = true

  wait            = var.wait_for_pods
  atomic          = var.wait_for_pods
  cleanup_on_fail = true

  values = [yamlencode({
    prometheus = {
      prometheusSpec = {
        # Select every ServiceMonitor, PodMonitor and PrometheusRule in the cluster, not only this
        # release's: the apps' live in their own namespaces, managed by Argo CD.
        serviceMonitorSelectorNilUsesHelmValues = false
        podMonitorSelectorNilUsesHelmValues     = false
        ruleSelectorNilUsesHelmValues           = false
        # The fast burn-rate page reads 5-minute windows; 15 s gives it enough samples.
        scrapeInterval     = "15s"
        evaluationInterval = "15s"
        # The SLO window is 30 days. No EBS CSI driver here, so the TSDB is on the node's disk:
        # capped in size, and a rescheduled Prometheus starts its budget history afresh.
        retention     = "30d"
        retentionSize = "8GB"
      }
    }
    alertmanager = {
      alertmanagerSpec = {
        # Routing comes from Git (AlertmanagerConfig "platform"), for alerts about every namespace.
        alertmanagerConfigSelector        = { matchLabels = { "app.kubernetes.io/part-of" = "gitops-platform" } }
        alertmanagerConfigMatcherStrategy = { type = "None" }
      }
    }
    grafana = {
      # Dashboards come from ConfigMaps labelled grafana_dashboard=1 in any namespace.
      sidecar = { dashboards = { enabled = true, label = "grafana_dashboard", labelValue = "1", searchNamespace = "ALL" } }
    }
  })]

  depends_on = [helm_release.aws_load_balancer_controller]
}

resource "helm_release" "external_secrets" {
  name             = "external-secrets"
  repository       = "https://charts.external-secrets.io"
  chart            = "external-secrets"
  version          = "2.9.0"
  namespace        = var.pod_identities.external_secrets.namespace
  create_namespace = true

  wait            = var.wait_for_pods
  atomic          = var.wait_for_pods
  cleanup_on_fail = true

  values = [yamlencode({
    installCRDs = true
    serviceAccount = {
      create = true
      name   = var.pod_identities.external_secrets.service_account
    }
    # externalsecret_status_condition feeds the ExternalSecretSyncFailed alert. Fail rather than
    # silently skip if the CRD is missing (kube-prometheus-stack installs it first).
    serviceMonitor = { enabled = true, renderMode = "failIfMissing" }
  })]

  depends_on = [helm_release.aws_load_balancer_controller, helm_release.kube_prometheus_stack]
}

resource "helm_release" "reloader" {
  name             = "reloader"
  repository       = "https://stakater.github.io/stakater-charts"
  chart            = "reloader"
  version          = "2.2.16"
  namespace        = "reloader"
  create_namespace = true

  wait            = var.wait_for_pods
  atomic          = var.wait_for_pods
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

  wait            = var.wait_for_pods
  atomic          = var.wait_for_pods
  cleanup_on_fail = true

  # No SSO is configured, so Dex would be an unused, exposed component.
  values = [
    yamlencode({
      dex = { enabled = false }
      configs = {
        cm = {
          # The GitHub webhook (k8s/argocd/<env>/webhook.yaml) brings a push in seconds; this poll is
          # the fallback when a delivery is lost, at most 90 + 30 s (chart default 120 + 60 s).
          # tests/contract/restore_budget.rs holds both to the restore budget.
          "timeout.reconciliation"        = "90s"
          "timeout.reconciliation.jitter" = "30s"
        }
        params = {
          # TLS ends at the ALB, which forwards only POST /api/webhook here over the VPC.
          "server.insecure" = "true"
        }
      }
      # argocd_app_info feeds the ArgoCdAppDegraded and ArgoCdAppOutOfSync alerts.
      controller = { metrics = { enabled = true, serviceMonitor = { enabled = true } } }
    }),
    # Argo CD Notifications -> GitHub Deployments (deployment-records.tf).
    yamlencode(local.deployment_records_values),
  ]

  # extraObjects include an ExternalSecret (ESO's CRDs must exist first), and the chart ships
  # ServiceMonitors (the Prometheus operator's CRDs must exist first).
  depends_on = [
    helm_release.aws_load_balancer_controller,
    helm_release.external_secrets,
    helm_release.kube_prometheus_stack,
  ]
}

# The root app-of-apps and its project, owned by this release alone. Everything else in k8s/argocd/<env>
# is the root app's business, not Terraform's. The argocd-apps chart takes metadata as namespace/finalizers/additionalAnnotations
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
      # No finalizers (root.yaml has none): replacing this release must orphan the Applications, not
      # cascade a delete to every workload.
      (local.root_app.metadata.name) = merge(local.root_app.spec, {
        namespace             = local.root_app.metadata.namespace
        additionalAnnotations = local.root_app.metadata.annotations
        # root.yaml's source, plus the cluster facts above for the Applications it syncs.
        source = merge(local.root_app.spec.source, { kustomize = { patches = local.root_app_facts } })
      })
    }
  })]

  # The Applications it syncs ship Rollouts and AnalysisTemplates: Argo Rollouts' CRDs come first.
  # The signature check comes first too: no app pod may be admitted before the webhook that judges
  # it exists, and k8s/admission's ClusterImagePolicies need its CRDs.
  depends_on = [helm_release.argocd, helm_release.external_secrets, helm_release.reloader, helm_release.kube_prometheus_stack, helm_release.argo_rollouts, helm_release.policy_controller]
}
