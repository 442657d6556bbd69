# AWS WAF in front of the cluster's one ALB: a per-client rate limit and AWS's managed rule groups.
# The Load Balancer Controller attaches it to the ALB through the IngressClassParams' wafv2AclArn
# (modules/cluster-addons main.tf, fed output web_acl_arn by the env root; tests/contract/waf.rs).
# Prod blocks; dev counts, so a false positive shows in the metrics and logs before it blocks prod.

locals {
  # The name in the ARN the IngressClassParams carry (tests/contract/waf.rs).
  web_acl_name = "${local.name}-alb"
  waf_blocks   = var.waf_mode == "block"

  # AWS managed rule groups and their priorities, after the rate rule (1):
  # common: OWASP-style basics (oversized bodies and headers, bad user agents, XSS, file inclusion);
  # known bad inputs: exploit patterns (Log4j JNDI lookups, Java deserialisation, localhost Host).
  waf_managed_rule_groups = {
    AWSManagedRulesCommonRuleSet         = 10
    AWSManagedRulesKnownBadInputsRuleSet = 20
  }

  # GitHub's push webhook (Argo CD's, k8s/argocd/<env>/webhook.yaml) routinely carries more than the
  # common rule set's 8 KB body limit. That one rule only counts (and labels) inside the group; the
  # rule below blocks on its label everywhere except exactly POST <this path>, which Argo CD
  # authenticates by the payload's HMAC signature. tests/contract/waf.rs binds the path to the Ingress.
  github_webhook_path = "/api/webhook"
  body_size_rule      = "SizeRestrictions_BODY"
  body_size_label     = "awswaf:managed:aws:core-rule-set:SizeRestrictions_Body"
}

resource "aws_wafv2_web_acl" "alb" {
  #checkov:skip=CKV_AWS_192:AWSManagedRulesKnownBadInputsRuleSet (Log4j JNDI) is below; it is set in a dynamic block (override none in prod, count in dev) that checkov cannot evaluate; tests/environments.tftest.hcl asserts prod blocks.
  name        = local.web_acl_name
  description = "${local.name}: per-client rate limit and AWS managed rules for the public ALB (${var.waf_mode})."
  scope       = "REGIONAL"

  default_action {
    allow {}
  }

  rule {
    name     = "rate-limit-per-client-ip"
    priority = 1

    action {
      dynamic "block" {
        for_each = local.waf_blocks ? [1] : []
        content {}
      }
      dynamic "count" {
        for_each = local.waf_blocks ? [] : [1]
        content {}
      }
    }

    statement {
      rate_based_statement {
        # Requests per client IP in the evaluation window; the ALB is the edge, so the source IP is the client.
        limit                 = var.waf_rate_limit
        evaluation_window_sec = 300
        aggregate_key_type    = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.web_acl_name}-rate-limit"
      sampled_requests_enabled   = true
    }
  }

  dynamic "rule" {
    for_each = local.waf_managed_rule_groups
    content {
      name     = rule.key
      priority = rule.value

      override_action {
        dynamic "none" {
          for_each = local.waf_blocks ? [1] : []
          content {}
        }
        dynamic "count" {
          for_each = local.waf_blocks ? [] : [1]
          content {}
        }
      }

      statement {
        managed_rule_group_statement {
          vendor_name = "AWS"
          name        = rule.key

          dynamic "rule_action_override" {
            for_each = rule.key == "AWSManagedRulesCommonRuleSet" ? [local.body_size_rule] : []
            content {
              name = rule_action_override.value
              action_to_use {
                count {}
              }
            }
          }
        }
      }

      visibility_config {
        cloudwatch_metrics_enabled = true
        metric_name                = "${local.web_acl_name}-${rule.key}"
        sampled_requests_enabled   = true
      }
    }
  }

  # The common rule set's body-size rule, re-applied from its label: every oversized body is blocked
  # (counted in dev) except a POST to exactly the GitHub webhook path.
  rule {
    name     = "body-size-except-github-webhook"
    priority = 11

    action {
      dynamic "block" {
        for_each = local.waf_blocks ? [1] : []
        content {}
      }
      dynamic "count" {
        for_each = local.waf_blocks ? [] : [1]
        content {}
      }
    }

    statement {
      and_statement {
        statement {
          label_match_statement {
            scope = "LABEL"
            key   = local.body_size_label
          }
        }
        statement {
          not_statement {
            statement {
              and_statement {
                statement {
                  byte_match_statement {
                    positional_constraint = "EXACTLY"
                    search_string         = "POST"
                    field_to_match {
                      method {}
                    }
                    text_transformation {
                      priority = 0
                      type     = "NONE"
                    }
                  }
                }
                statement {
                  byte_match_statement {
                    positional_constraint = "EXACTLY"
                    search_string         = local.github_webhook_path
                    field_to_match {
                      uri_path {}
                    }
                    text_transformation {
                      priority = 0
                      type     = "NONE"
                    }
                  }
                }
              }
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${local.web_acl_name}-body-size-except-github-webhook"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = local.web_acl_name
    sampled_requests_enabled   = true
  }

  tags = local.tags
}

# WAF logs: the log group name must start with aws-waf-logs-. Encrypted with the logs key.
resource "aws_cloudwatch_log_group" "waf" {
  #checkov:skip=CKV_AWS_338:Retention follows log_retention_days like the cluster's other log groups (30 days in dev).
  name              = "aws-waf-logs-${local.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn

  tags = local.tags
}

resource "aws_wafv2_web_acl_logging_configuration" "alb" {
  resource_arn            = aws_wafv2_web_acl.alb.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf.arn]

  # Never write the key or cookies to the WAF log.
  redacted_fields {
    single_header {
      name = "x-api-key"
    }
  }

  redacted_fields {
    single_header {
      name = "cookie"
    }
  }
}
