# Plan-only: the Helm values that bind the add-ons to the cluster, its identities and Git. No cluster needed.

mock_provider "helm" {}

variables {
  region       = "eu-west-1"
  cluster_name = "gitops-dev"
  vpc_id       = "vpc-0123456789abcdef0"
  pod_identities = {
    argo_rollouts                = { namespace = "argo-rollouts", service_account = "argo-rollouts" }
    aws_load_balancer_controller = { namespace = "kube-system", service_account = "aws-load-balancer-controller" }
    external_secrets             = { namespace = "external-secrets", service_account = "external-secrets" }
  }
  deployment_records_secret_name = "gitops/argocd-notifications/dev"
  wait_for_pods                  = true
  certificate_arn                = "arn:aws:acm:eu-west-1:111122223333:certificate/00000000-0000-0000-0000-000000000000"
  web_acl_arn                    = "arn:aws:wafv2:eu-west-1:111122223333:regional/webacl/gitops-dev-alb/00000000-0000-0000-0000-000000000000"
  database_url                   = "postgres://api_app@gitops-dev.abcdefghijkl.eu-west-1.rds.amazonaws.com:5432/tasks?sslmode=verify-full&sslrootcert=/etc/rds-ca/ca.pem"
  database_master_secret_arn     = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!db-00000000-0000-0000-0000-000000000000-AbCdEf"
}

run "alb_controller_knows_region_and_vpc_without_imds" {
  command = plan

  variables {
    env = "dev"
  }

  assert {
    condition     = yamldecode(helm_release.aws_load_balancer_controller.values[0]).region == "eu-west-1" && yamldecode(helm_release.aws_load_balancer_controller.values[0]).vpcId == "vpc-0123456789abcdef0"
    error_message = "IMDS hop limit 1 hides region and VPC from pods: the chart must be given both."
  }

  assert {
    condition     = yamldecode(helm_release.aws_load_balancer_controller.values[0]).clusterName == "gitops-dev"
    error_message = "The controller must be told its cluster name."
  }
}

run "controllers_use_the_pod_identity_service_accounts" {
  command = plan

  variables {
    env = "dev"
  }

  assert {
    condition     = helm_release.aws_load_balancer_controller.namespace == "kube-system" && yamldecode(helm_release.aws_load_balancer_controller.values[0]).serviceAccount.name == "aws-load-balancer-controller"
    error_message = "The controller must run as kube-system/aws-load-balancer-controller, the Pod Identity binding."
  }

  assert {
    condition     = helm_release.external_secrets.namespace == "external-secrets" && yamldecode(helm_release.external_secrets.values[0]).serviceAccount.name == "external-secrets"
    error_message = "ESO must run as external-secrets/external-secrets, the Pod Identity binding."
  }
}

run "charts_are_pinned" {
  command = plan

  variables {
    env = "prod"
  }

  assert {
    condition = alltrue([for v in [
      helm_release.aws_load_balancer_controller.version,
      helm_release.external_secrets.version,
      helm_release.reloader.version,
      helm_release.argocd.version,
      helm_release.argocd_root_app.version,
      helm_release.kube_prometheus_stack.version,
      helm_release.policy_controller.version,
      helm_release.argo_rollouts.version,
    ] : can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", v))])
    error_message = "Every chart version must be an exact x.y.z pin."
  }
}

run "prod_root_app_tracks_k8s_argocd_prod_and_never_prunes" {
  command = plan

  variables {
    env = "prod"
  }

  assert {
    condition     = yamldecode(helm_release.argocd_root_app.values[0]).applications["root-prod"].source.path == "k8s/argocd/prod"
    error_message = "prod's root Application must sync k8s/argocd/prod."
  }

  assert {
    condition     = yamldecode(helm_release.argocd_root_app.values[0]).applications["root-prod"].syncPolicy.automated.prune == false
    error_message = "prod's root Application must never prune."
  }

  assert {
    condition     = yamldecode(helm_release.argocd_root_app.values[0]).applications["root-prod"].source.repoURL == "https://github.com/gitops-platform/gitops-platform.git"
    error_message = "The root Application must sync this repository by default."
  }

  assert {
    condition     = yamldecode(helm_release.argocd_root_app.values[0]).applications["root-prod"].project == "bootstrap-prod" && length(yamldecode(helm_release.argocd_root_app.values[0]).projects["bootstrap-prod"].destinations) == 1
    error_message = "The root Application must live in the bootstrap project Helm creates with it, which reaches argocd only."
  }
}

run "cluster_name_must_follow_the_seed" {
  command = plan

  variables {
    env          = "dev"
    cluster_name = "my-cluster"
  }

  expect_failures = [var.cluster_name]
}

run "deployment_records_take_the_github_app_from_eso_not_the_chart" {
  command = plan

  variables {
    env = "dev"
  }

  assert {
    condition     = yamldecode(helm_release.argocd.values[1]).notifications.secret.create == false
    error_message = "External Secrets owns argocd-notifications-secret; the chart must not create it."
  }

  assert {
    condition     = alltrue([for d in yamldecode(helm_release.argocd.values[1]).extraObjects[1].spec.data : d.remoteRef.key == "gitops/argocd-notifications/dev"])
    error_message = "The ExternalSecret must read the secret modules/platform-cluster created."
  }
}

run "releases_wait_for_their_pods_when_nodes_run_and_not_when_dev_sleeps" {
  command = plan

  variables {
    env           = "dev"
    wait_for_pods = false
  }

  assert {
    condition     = !helm_release.argocd.wait && !helm_release.argocd.atomic && !helm_release.external_secrets.wait
    error_message = "With dev's nodes at zero, a release must not wait for pods that cannot start."
  }
}

run "argo_rollouts_metrics_name_the_rollouts_own_namespace" {
  command = plan

  variables {
    env = "dev"
  }

  assert {
    condition     = yamldecode(helm_release.argo_rollouts.values[0]).controller.metrics.serviceMonitor.enabled && yamldecode(helm_release.argo_rollouts.values[0]).controller.metrics.serviceMonitor.metricRelabelings[0].targetLabel == "namespace"
    error_message = "RolloutAborted and the dashboard select rollout_info by the Rollout's namespace: the ServiceMonitor must put it back from exported_namespace."
  }

  assert {
    condition     = helm_release.argo_rollouts.namespace == "argo-rollouts" && yamldecode(helm_release.argo_rollouts.values[0]).keepCRDs
    error_message = "Argo Rollouts lives in argo-rollouts, and deleting the release must keep the Rollouts."
  }

  assert {
    condition     = contains(yamldecode(helm_release.argo_rollouts.values[0]).controller.extraArgs, "--aws-verify-target-group") && yamldecode(helm_release.argo_rollouts.values[0]).serviceAccount.name == "argo-rollouts"
    error_message = "The Rollouts controller verifies target groups (a new revision's pods get no readiness gate), as the service account its Pod Identity binds."
  }
}
