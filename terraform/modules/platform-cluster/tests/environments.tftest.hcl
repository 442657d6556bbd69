# Plan-only: what each environment builds. No credentials; the community modules are replaced by their outputs.

mock_provider "aws" {
  override_during = plan

  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

override_data {
  target = data.aws_caller_identity.current
  values = { account_id = "111122223333" }
}

override_data {
  target = data.aws_partition.current
  values = { partition = "aws" }
}

override_data {
  target = data.aws_ssm_parameter.github_connection
  values = { insecure_value = "arn:aws:codeconnections:eu-west-1:111122223333:connection/00000000-0000-4000-8000-000000000000" }
}

override_data {
  target = data.aws_availability_zones.available
  values = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
}

override_module {
  target = module.vpc
  outputs = {
    vpc_id          = "vpc-0123456789abcdef0"
    private_subnets = ["subnet-a", "subnet-b", "subnet-c"]
    intra_subnets   = ["subnet-d", "subnet-e", "subnet-f"]

    database_subnet_group_name = "gitops-test-database"
  }
}

override_module {
  target = module.eks
  outputs = {
    cluster_name                                    = "gitops-test"
    cluster_endpoint                                = "https://EXAMPLE.gr7.eu-west-1.eks.amazonaws.com"
    cluster_certificate_authority_data              = "Y2E="
    eks_managed_node_groups_autoscaling_group_names = ["eks-gitops-default-asg"]
    node_security_group_id                          = "sg-0nodes000000000000"
  }
}

override_module {
  target = module.db
  outputs = {
    db_instance_address                = "gitops-test.abcdefghijkl.eu-west-1.rds.amazonaws.com"
    db_instance_arn                    = "arn:aws:rds:eu-west-1:111122223333:db:gitops-test"
    db_instance_identifier             = "gitops-test"
    db_instance_master_user_secret_arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!db-0000-AbCdEf"
  }
}

# Writes a generated first value through an ephemeral resource, which mock providers cannot open.
override_module {
  target = module.api_secret_value
}

# Writes a generated first value through an ephemeral resource, which mock providers cannot open.
override_module {
  target = module.database_app_secret_value
}

# Writes a generated first value through an ephemeral resource, which mock providers cannot open.
override_module {
  target = module.ops_secret_value
}

override_module {
  target = module.registry_secret_value
}

override_module {
  target  = module.external_secrets_pod_identity
  outputs = { iam_role_arn = "arn:aws:iam::111122223333:role/external-secrets" }
}

override_module {
  target  = module.aws_lbc_pod_identity
  outputs = { iam_role_arn = "arn:aws:iam::111122223333:role/aws-lbc" }
}

variables {
  region                  = "eu-west-1"
  cluster_admin_role_arns = ["arn:aws:iam::111122223333:role/gitops-terraform"]
  node_group = {
    instance_types = ["t3.large"]
    min_size       = 2
    max_size       = 3
    desired_size   = 2
  }
  database = {
    instance_class           = "db.t4g.micro"
    allocated_storage_gb     = 20
    max_allocated_storage_gb = 50
    backup_retention_days    = 7
  }
}

run "dev_sleeps_outside_working_hours" {
  command = plan

  variables {
    env                      = "dev"
    kubernetes_version       = "1.35"
    addon_versions           = { coredns = "v1.13.2-eksbuild.1", kube_proxy = "v1.35.0-eksbuild.2", vpc_cni = "v1.21.1-eksbuild.3", eks_pod_identity_agent = "v1.3.10-eksbuild.3" }
    node_ami_release_version = "1.35.3-20260415"
    log_retention_days       = 30
    node_scale_down_schedule = {
      time_zone             = "Europe/Dublin"
      scale_down_recurrence = "0 20 * * MON-FRI"
      scale_up_recurrence   = "0 7 * * MON-FRI"
    }
  }

  assert {
    condition     = length(aws_autoscaling_schedule.nodes) == 2
    error_message = "dev must have a scale-down and a scale-up action."
  }

  assert {
    condition     = aws_autoscaling_schedule.nodes["down"].desired_capacity == 0 && aws_autoscaling_schedule.nodes["down"].min_size == 0
    error_message = "The evening action must take dev's node group to zero."
  }

  assert {
    condition     = aws_autoscaling_schedule.nodes["up"].desired_capacity == 2 && aws_autoscaling_schedule.nodes["up"].min_size == 2
    error_message = "The morning action must restore node_group sizes."
  }

  assert {
    condition     = aws_autoscaling_schedule.nodes["down"].autoscaling_group_name == "eks-gitops-default-asg"
    error_message = "The schedule must target the managed node group's autoscaling group."
  }

  assert {
    condition     = aws_autoscaling_schedule.nodes["down"].scheduled_action_name == "gitops-dev-nodes-down"
    error_message = "Scheduled actions are named from the gitops-<env> seed."
  }
}

run "prod_has_no_scale_down_schedule" {
  command = plan

  variables {
    env                      = "prod"
    kubernetes_version       = "1.34"
    addon_versions           = { coredns = "v1.12.4-eksbuild.1", kube_proxy = "v1.34.1-eksbuild.2", vpc_cni = "v1.21.1-eksbuild.1", eks_pod_identity_agent = "v1.3.10-eksbuild.2" }
    node_ami_release_version = "1.34.2-20260128"
    log_retention_days       = 365
  }

  assert {
    condition     = length(aws_autoscaling_schedule.nodes) == 0
    error_message = "prod must never scale its nodes down on a schedule."
  }

  assert {
    condition     = length(output.resource_names.node_scale_actions) == 0
    error_message = "prod must not name any scheduled node actions."
  }
}

run "eso_policy_names_exactly_this_envs_secret_arns" {
  command = plan

  variables {
    env                      = "prod"
    kubernetes_version       = "1.34"
    addon_versions           = { coredns = "v1.12.4-eksbuild.1", kube_proxy = "v1.34.1-eksbuild.2", vpc_cni = "v1.21.1-eksbuild.1", eks_pod_identity_agent = "v1.3.10-eksbuild.2" }
    node_ami_release_version = "1.34.2-20260128"
    log_retention_days       = 365
  }

  assert {
    condition     = length(jsondecode(output.external_secrets_policy).Statement) == 1
    error_message = "The ESO policy must have exactly one statement."
  }

  assert {
    condition = jsondecode(output.external_secrets_policy).Statement[0].Resource == [
      "arn:aws:secretsmanager:eu-west-1:111122223333:secret:gitops/demo-api/prod-??????",
      "arn:aws:secretsmanager:eu-west-1:111122223333:secret:gitops/dockerhub/prod-??????",
    ]
    error_message = "The ESO policy must name this env's API and registry secret ARNs and nothing else (no '*', no other env)."
  }

  assert {
    condition     = toset(jsondecode(output.external_secrets_policy).Statement[0].Action) == toset(["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"])
    error_message = "ESO may only GetSecretValue and DescribeSecret."
  }

  assert {
    condition     = jsondecode(output.external_secrets_policy).Statement[0].Effect == "Allow"
    error_message = "The ESO statement must be an Allow."
  }
}

run "names_follow_the_gitops_env_seed" {
  command = plan

  variables {
    env                      = "dev"
    kubernetes_version       = "1.35"
    addon_versions           = { coredns = "v1.13.2-eksbuild.1", kube_proxy = "v1.35.0-eksbuild.2", vpc_cni = "v1.21.1-eksbuild.3", eks_pod_identity_agent = "v1.3.10-eksbuild.3" }
    node_ami_release_version = "1.35.3-20260415"
    log_retention_days       = 30
  }

  assert {
    condition     = output.resource_names.cluster == "gitops-dev"
    error_message = "The cluster must be named gitops-dev."
  }

  assert {
    condition     = aws_secretsmanager_secret.api.name == "gitops/demo-api/dev"
    error_message = "The API secret must be gitops/demo-api/dev (the ExternalSecret remote key)."
  }

  assert {
    condition     = output.resource_names.external_secrets_role == "gitops-dev-external-secrets" && output.resource_names.aws_lbc_role == "gitops-dev-aws-lbc" && output.resource_names.argo_rollouts_role == "gitops-dev-argo-rollouts"
    error_message = "Controller roles must be gitops-<env>-external-secrets, gitops-<env>-aws-lbc and gitops-<env>-argo-rollouts."
  }

  assert {
    condition = output.pod_identities == {
      argo_rollouts                = { namespace = "argo-rollouts", service_account = "argo-rollouts" }
      aws_load_balancer_controller = { namespace = "kube-system", service_account = "aws-load-balancer-controller" }
      external_secrets             = { namespace = "external-secrets", service_account = "external-secrets" }
    }
    error_message = "Pod Identity must bind exactly argo-rollouts/argo-rollouts, kube-system/aws-load-balancer-controller and external-secrets/external-secrets."
  }

  assert {
    condition     = aws_secretsmanager_secret.api.recovery_window_in_days == 30 && aws_kms_key.api_secret.enable_key_rotation
    error_message = "The API secret must keep its recovery window and use a rotating customer-managed key."
  }

  assert {
    condition     = output.kubeconfig_command == "aws eks update-kubeconfig --region eu-west-1 --name gitops-test"
    error_message = "The kubeconfig command must name the cluster the EKS module created."
  }

  assert {
    condition     = aws_codebuild_project.ci_runner["plan"].name == "gitops-dev-ci-plan" && aws_codebuild_project.ci_runner["apply"].name == "gitops-dev-ci-apply"
    error_message = "dev's Terraform runner pools are the projects terraform-env.yml's runs-on names."
  }

  assert {
    condition     = aws_security_group.ci_runner["plan"].name == "gitops-dev-ci-plan" && aws_security_group.ci_runner["apply"].name == "gitops-dev-ci-apply"
    error_message = "Each runner pool has a security group of its own."
  }

  assert {
    condition     = alltrue([for rule in aws_vpc_security_group_egress_rule.ci_runner_https : rule.from_port == 443 && rule.to_port == 443])
    error_message = "The runners may leave only on 443."
  }
}

# The ALB's web ACL: prod blocks, dev counts; tests/contract/waf.rs binds its name to the Ingresses.
run "prod_blocks_rate_limited_clients_and_managed_rule_matches" {
  command = plan

  variables {
    env                      = "prod"
    kubernetes_version       = "1.34"
    addon_versions           = { coredns = "v1.12.4-eksbuild.1", kube_proxy = "v1.34.1-eksbuild.2", vpc_cni = "v1.21.1-eksbuild.1", eks_pod_identity_agent = "v1.3.10-eksbuild.2" }
    node_ami_release_version = "1.34.2-20260128"
    log_retention_days       = 365
    waf_mode                 = "block"
  }

  assert {
    condition     = aws_wafv2_web_acl.alb.name == "gitops-prod-alb" && aws_wafv2_web_acl.alb.scope == "REGIONAL"
    error_message = "The web ACL must be the regional gitops-<env>-alb (the Ingress annotation names it)."
  }

  assert {
    condition     = length(aws_wafv2_web_acl.alb.default_action[0].allow) == 1
    error_message = "Requests no rule matches must be allowed."
  }

  assert {
    condition = one([
      for r in aws_wafv2_web_acl.alb.rule : r.statement[0].rate_based_statement[0]
      if length(r.statement[0].rate_based_statement) > 0
    ]).aggregate_key_type == "IP"
    error_message = "Exactly one rate-based rule, keyed by client IP."
  }

  assert {
    condition = one([
      for r in aws_wafv2_web_acl.alb.rule : r.statement[0].rate_based_statement[0].limit
      if length(r.statement[0].rate_based_statement) > 0
    ]) == 1000
    error_message = "The rate rule must use waf_rate_limit (default 1000 per 5 minutes)."
  }

  assert {
    condition = alltrue([
      for r in aws_wafv2_web_acl.alb.rule : length(r.action[0].block) == 1
      if length(r.action) > 0
    ])
    error_message = "In prod the rate rule must block."
  }

  assert {
    condition = toset([
      for r in aws_wafv2_web_acl.alb.rule : r.statement[0].managed_rule_group_statement[0].name
      if length(r.statement[0].managed_rule_group_statement) > 0
    ]) == toset(["AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"])
    error_message = "The AWS common and known-bad-inputs rule groups must both run."
  }

  assert {
    condition = alltrue([
      for r in aws_wafv2_web_acl.alb.rule : length(r.override_action[0].none) == 1
      if length(r.override_action) > 0
    ])
    error_message = "In prod the managed rule groups must act on their own verdicts (override none), not count."
  }

  assert {
    condition = anytrue([
      for r in aws_wafv2_web_acl.alb.rule :
      try(r.statement[0].managed_rule_group_statement[0].rule_action_override[0].name == "SizeRestrictions_BODY", false)
    ])
    error_message = "The common rule set's 8 KB body rule only labels, so the rule after it can exempt the GitHub webhook."
  }

  assert {
    condition = anytrue([
      for r in aws_wafv2_web_acl.alb.rule :
      r.name == "body-size-except-github-webhook" && length(r.action[0].block) == 1 && r.priority > 10
    ])
    error_message = "In prod oversized bodies are blocked, after the common rule set, except POST /api/webhook."
  }

  assert {
    condition = contains([
      for f in aws_wafv2_web_acl_logging_configuration.alb.redacted_fields : f.single_header[0].name
    ], "x-api-key")
    error_message = "The WAF log must never contain the API key."
  }

  assert {
    condition     = aws_cloudwatch_log_group.waf.name == "aws-waf-logs-gitops-prod"
    error_message = "WAF log groups must be named aws-waf-logs-*."
  }
}

run "dev_only_counts" {
  command = plan

  variables {
    env                      = "dev"
    kubernetes_version       = "1.35"
    addon_versions           = { coredns = "v1.13.2-eksbuild.1", kube_proxy = "v1.35.0-eksbuild.2", vpc_cni = "v1.21.1-eksbuild.3", eks_pod_identity_agent = "v1.3.10-eksbuild.3" }
    node_ami_release_version = "1.35.3-20260415"
    log_retention_days       = 30
    waf_mode                 = "count"
  }

  assert {
    condition     = aws_wafv2_web_acl.alb.name == "gitops-dev-alb"
    error_message = "The dev web ACL must be gitops-dev-alb."
  }

  assert {
    condition = alltrue([
      for r in aws_wafv2_web_acl.alb.rule : length(r.action[0].count) == 1 && length(r.action[0].block) == 0
      if length(r.action) > 0
    ])
    error_message = "In dev the rate rule must only count."
  }

  assert {
    condition = alltrue([
      for r in aws_wafv2_web_acl.alb.rule : length(r.override_action[0].count) == 1
      if length(r.override_action) > 0
    ])
    error_message = "In dev the managed rule groups must only count."
  }
}

run "an_unknown_waf_mode_is_refused" {
  command = plan

  variables {
    env                      = "dev"
    kubernetes_version       = "1.35"
    addon_versions           = { coredns = "v1.13.2-eksbuild.1", kube_proxy = "v1.35.0-eksbuild.2", vpc_cni = "v1.21.1-eksbuild.3", eks_pod_identity_agent = "v1.3.10-eksbuild.3" }
    node_ami_release_version = "1.35.3-20260415"
    log_retention_days       = 30
    waf_mode                 = "detect"
  }

  expect_failures = [var.waf_mode]
}
