# Progressive delivery: Argo Rollouts runs api-app and demo-app as canaries (k8s/base/<app>/rollout.yaml)
# and stops a release whose canary fails its analysis against Prometheus (k8s/base/canary-analysis).
# Git supplies the Rollouts and the AnalysisTemplate; this release supplies the controller and its CRDs.
#
# Target group verification (--aws-verify-target-group): the ALB readiness gate cannot hold a release's
# pods. The Load Balancer Controller's webhook injects the gate only into a pod that a Service with a
# TargetGroupBinding selects when the pod is created, and the Rollout points the stable and canary
# Services at a new ReplicaSet only after it has an available pod: every pod of a new revision (a
# release, a rollback, a Reloader restart) is created ungated. So the controller itself checks, through the AWS API, that the pods behind
# the stable Service are registered in its target group before it scales down the old ReplicaSet,
# and that the ALB carries each weight it sets. Its identity (modules/platform-cluster,
# identities.tf) may only Describe the load balancers; the region comes from AWS_REGION.

resource "helm_release" "argo_rollouts" {
  name             = "argo-rollouts"
  repository       = "https://argoproj.github.io/argo-helm"
  chart            = "argo-rollouts"
  version          = "2.41.0"
  namespace        = var.pod_identities.argo_rollouts.namespace
  create_namespace = true

  wait            = var.wait_for_pods
  atomic          = var.wait_for_pods
  cleanup_on_fail = true

  values = [yamlencode({
    installCRDs = true
    # Deleting the release must never delete the Rollouts it runs (and with them every app pod).
    keepCRDs = true
    # The service account Pod Identity binds the controller's AWS role to.
    serviceAccount = { create = true, name = var.pod_identities.argo_rollouts.service_account }
    controller = {
      extraArgs = ["--aws-verify-target-group"]
      extraEnv  = [{ name = "AWS_REGION", value = var.region }]
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
