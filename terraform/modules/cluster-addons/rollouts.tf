# Progressive delivery: Argo Rollouts runs api-app and demo-app as canaries (k8s/base/<app>/rollout.yaml)
# and stops a release whose canary fails its analysis against Prometheus (k8s/base/canary-analysis).
# Git supplies the Rollouts and the AnalysisTemplate; this release supplies the controller and its CRDs.
#
# No AWS identity: the controller only edits Kubernetes objects (the Services' selectors and the
# Ingress's forward action, which the Load Balancer Controller turns into ALB weights). TargetGroup
# verification (--aws-verify-target-group), which would need ELB Describe rights through Pod Identity,
# stays off: the ALB readiness gate already holds every pod until its target is healthy.

locals {
  rollouts_namespace = "argo-rollouts"
}

resource "helm_release" "argo_rollouts" {
  name             = "argo-rollouts"
  repository       = "https://argoproj.github.io/argo-helm"
  chart            = "argo-rollouts"
  version          = "2.41.0"
  namespace        = local.rollouts_namespace
  create_namespace = true

  wait            = var.wait_for_pods
  atomic          = var.wait_for_pods
  cleanup_on_fail = true

  values = [yamlencode({
    installCRDs = true
    # Deleting the release must never delete the Rollouts it runs (and with them every app pod).
    keepCRDs = true
    controller = {
      # Two replicas with leader election, and a PodDisruptionBudget: a node drain never leaves a
      # release without the controller that would abort it.
      replicas = 2
      pdb      = { enabled = true, minAvailable = 1 }
      metrics = {
        enabled = true
        # rollout_info and analysis_run_* feed RolloutAborted, the workload alerts and the dashboard's
        # Releases row (k8s/base/monitoring). Prometheus keeps the target's namespace (argo-rollouts) and
        # renames the metric's own to exported_namespace; putting it back lets the rules and the
        # dashboard select a Rollout by its namespace like every other series.
        serviceMonitor = {
          enabled = true
          metricRelabelings = [
            { sourceLabels = ["exported_namespace"], regex = "(.+)", targetLabel = "namespace", replacement = "$1", action = "replace" },
            { regex = "exported_namespace", action = "labeldrop" },
          ]
        }
      }
    }
    # No UI of its own: Argo CD shows the Rollouts, and kubectl argo rollouts reads them.
    dashboard = { enabled = false }
    # RBAC only for the traffic router in use (the chart grants every supported one by default).
    providerRBAC = {
      enabled = true
      providers = {
        awsLoadBalancerController = true
        istio                     = false
        smi                       = false
        ambassador                = false
        awsAppMesh                = false
        traefik                   = false
        apisix                    = false
        contour                   = false
        glooPlatform              = false
        gatewayAPI                = false
      }
    }
  })]

  # Its Services are mutated by the Load Balancer Controller's webhook, and its ServiceMonitor needs
  # the Prometheus operator's CRDs.
  depends_on = [helm_release.aws_load_balancer_controller, helm_release.kube_prometheus_stack]
}
