# Plan-only: the ALB's web ACL per environment. Prod blocks, dev counts; both limit each client IP
# and run AWS's common and known-bad-inputs rule groups. tests/contract/waf.rs binds the name to the
# Ingress annotation.

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
  target = data.aws_availability_zones.available
  values = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
}

override_module {
  target = module.vpc
  outputs = {
    vpc_id          = "vpc-0123456789abcdef0"
    private_subnets = ["subnet-a", "subnet-b", "subnet-c"]
    intra_subnets   = ["subnet-d", "subnet-e", "subnet-f"]
  }
}

override_module {
  target = module.eks
  outputs = {
    cluster_name                                    = "gitops-test"
    cluster_endpoint                                = "https://EXAMPLE.gr7.eu-west-1.eks.amazonaws.com"
    cluster_certificate_authority_data              = "Y2E="
    eks_managed_node_groups_autoscaling_group_names = ["eks-gitops-default-asg"]
  }
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
}

run "prod_blocks_rate_limited_clients_and_managed_rule_matches" {
  command = plan

  variables {
    env                = "prod"
    kubernetes_version = "1.34"
    log_retention_days = 365
    waf_mode           = "block"
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
    env                = "dev"
    kubernetes_version = "1.35"
    log_retention_days = 30
    waf_mode           = "count"
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
    env                = "dev"
    kubernetes_version = "1.35"
    log_retention_days = 30
    waf_mode           = "detect"
  }

  expect_failures = [var.waf_mode]
}
