# What pages when the cluster cannot: CloudWatch alarms on the ALB and the database, and RDS's own events
# (failover, failure, low storage), to one SNS topic that AWS Chatbot posts to the Slack channel the
# alerts already go to. They run in AWS, outside the cluster, so a total outage (no pod ready, the ALB
# answering 503 itself, Prometheus down with the nodes) still reaches a person. Alarms in Terraform
# rather than a CloudWatch exporter into Prometheus: RDS events are not metrics and need SNS anyway, an
# alarm needs no pod to be evaluated, and nothing new runs in the cluster.
# tests/contract/alarms.rs checks every alarm's target, dimension and threshold.

locals {
  # RDS sizes max_connections from the class's memory, LEAST(DBInstanceClassMemory/9531392, 5000), where
  # DBInstanceClassMemory is the nominal memory less what the OS keeps (about a quarter on the small
  # classes). The alarms read this table; a class missing from it stops the plan (precondition below).
  database_memory_gib = {
    "db.t4g.micro"   = 1
    "db.t4g.small"   = 2
    "db.t4g.medium"  = 4
    "db.t4g.large"   = 8
    "db.m7g.large"   = 8
    "db.m7g.xlarge"  = 16
    "db.m7g.2xlarge" = 32
    "db.r7g.large"   = 16
    "db.r7g.xlarge"  = 32
  }
  database_memory_bytes = lookup(local.database_memory_gib, var.database.instance_class, 1) * 1073741824
  # 60 % of the nominal formula: about 80 % of the real limit once the OS's share is taken off.
  database_connections_alarm = floor(0.6 * min(local.database_memory_bytes / 9531392, 5000))

  # Metric alarms on the serving instance (database.tf). Dev's instance is stopped at night and sends
  # no data then, which never alarms (treat_missing_data).
  database_alarms = merge(
    {
      # Storage autoscaling grows the volume up to max_allocated_storage; past that only free space shrinks.
      storage = {
        metric      = "FreeStorageSpace", statistic = "Minimum", operator = "LessThanThreshold", periods = 1
        threshold   = 0.1 * var.database.max_allocated_storage_gb * 1073741824
        description = "Free storage under 10 % of max_allocated_storage (${var.database.max_allocated_storage_gb} GB): autoscaling is near its ceiling; raise it or clean up before writes fail."
      }
      cpu = {
        metric      = "CPUUtilization", statistic = "Average", operator = "GreaterThanThreshold", periods = 3
        threshold   = 80
        description = "CPU over 80 % for 15 minutes: slow queries or an undersized instance."
      }
      memory = {
        metric      = "FreeableMemory", statistic = "Minimum", operator = "LessThanThreshold", periods = 3
        threshold   = 0.1 * local.database_memory_bytes
        description = "Freeable memory under 10 % for 15 minutes: the instance is about to swap."
      }
      connections = {
        metric      = "DatabaseConnections", statistic = "Maximum", operator = "GreaterThanThreshold", periods = 3
        threshold   = local.database_connections_alarm
        description = "Over ${local.database_connections_alarm} connections for 15 minutes, near max_connections: new connections will be refused (a rollout doubles the pods, maxSurge 100 %)."
      }
    },
    # Burstable classes run on CPU credits; at zero the instance is throttled to its baseline.
    startswith(var.database.instance_class, "db.t") ? {
      credits = {
        metric      = "CPUCreditBalance", statistic = "Minimum", operator = "LessThanThreshold", periods = 3
        threshold   = 20
        description = "CPU credits under 20 for 15 minutes: the instance will be throttled to its baseline."
      }
    } : {},
  )
}

resource "aws_kms_key" "alarms" {
  description             = "${local.name}: encrypts the alarms topic (CloudWatch alarms and RDS events publish to it)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.alarms_key.json

  tags = local.tags
}

resource "aws_kms_alias" "alarms" {
  name          = "alias/${local.name}-alarms"
  target_key_id = aws_kms_key.alarms.key_id
}

# The services that publish to the topic encrypt with this key; nothing else may use it.
data "aws_iam_policy_document" "alarms_key" {
  source_policy_documents = [data.aws_iam_policy_document.key_admin.json]

  #checkov:skip=CKV_AWS_109:Key policy: "*" means this key only (the two publishing services, scoped to this account below).
  #checkov:skip=CKV_AWS_111:Key policy: "*" means this key only (the two publishing services, scoped to this account below).
  #checkov:skip=CKV_AWS_356:Key policy: "*" means this key only (the two publishing services, scoped to this account below).

  statement {
    sid       = "AlarmsAndDatabaseEventsPublish"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "events.rds.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic" "alarms" {
  name              = "${local.name}-alarms"
  kms_master_key_id = aws_kms_key.alarms.arn

  tags = local.tags
}

resource "aws_cloudwatch_metric_alarm" "database" {
  for_each = local.database_alarms

  alarm_name          = "${local.name}-database-${each.key}"
  alarm_description   = "${each.value.description} Runbook: docs/runbooks.md#database-alarms"
  namespace           = "AWS/RDS"
  metric_name         = each.value.metric
  statistic           = each.value.statistic
  comparison_operator = each.value.operator
  threshold           = each.value.threshold
  period              = 300
  evaluation_periods  = each.value.periods
  datapoints_to_alarm = each.value.periods
  treat_missing_data  = "notBreaching"
  dimensions          = { DBInstanceIdentifier = local.database_serving.db_instance_identifier }
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  tags = local.tags

  lifecycle {
    precondition {
      condition     = contains(keys(local.database_memory_gib), var.database.instance_class)
      error_message = "Add ${var.database.instance_class}'s memory to local.database_memory_gib (alarms.tf): the memory and connection alarms are sized from it."
    }
  }
}

# RDS's own events for every instance of the env (the live one and a restore beside it).
resource "aws_db_event_subscription" "database" {
  name             = "${local.name}-database"
  sns_topic        = aws_sns_topic.alarms.arn
  source_type      = "db-instance"
  source_ids       = concat([module.db.db_instance_identifier], module.db_restore[*].db_instance_identifier)
  event_categories = ["failover", "failure", "low storage"]

  tags = local.tags
}

# The ALB's own 5xx: with no healthy target it answers 503 itself, which the app's metrics never see.
# The ALB exists once the Load Balancer Controller has built it (certificate.tf), so from that apply on.
resource "aws_cloudwatch_metric_alarm" "alb_5xx" {
  for_each = data.aws_lb.ingress_group

  alarm_name          = "${local.name}-alb-5xx"
  alarm_description   = "The ALB answered 5 or more 5xx of its own (502/503/504: no healthy or no answering target) in each of 3 minutes. Runbook: docs/runbooks.md#alb-alarms"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_ELB_5XX_Count"
  statistic           = "Sum"
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 5
  period              = 60
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  treat_missing_data  = "notBreaching"
  dimensions          = { LoadBalancer = each.value.arn_suffix }
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  tags = local.tags
}

# Unhealthy targets in any of the group's target groups (the controller creates one per Service), read
# with a Metrics Insights query so no target group's generated name is needed here.
resource "aws_cloudwatch_metric_alarm" "alb_unhealthy_hosts" {
  for_each = data.aws_lb.ingress_group

  alarm_name          = "${local.name}-alb-unhealthy-hosts"
  alarm_description   = "A target of the ALB failed its health checks for 5 minutes in a row (a rollout's draining pods deregister, they do not turn unhealthy). Runbook: docs/runbooks.md#alb-alarms"
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 5
  datapoints_to_alarm = 5
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "unhealthy"
    label       = "Unhealthy targets"
    expression  = "SELECT MAX(UnHealthyHostCount) FROM SCHEMA(\"AWS/ApplicationELB\", LoadBalancer, TargetGroup) WHERE LoadBalancer = '${each.value.arn_suffix}'"
    period      = 60
    return_data = true
  }

  tags = local.tags
}

################################################################################
# Delivery: AWS Chatbot posts the topic to the alerts' Slack channel
################################################################################

resource "aws_iam_role" "chatbot" {
  count = var.alarm_slack == null ? 0 : 1

  name                 = "${local.name}-chatbot"
  description          = "AWS Chatbot's channel role for ${local.name}'s alarms: no permissions; it only posts what SNS delivers"
  assume_role_policy   = templatefile("${path.module}/iam/chatbot-trust.json.tftpl", { partition = local.partition, account_id = local.account_id, name = local.name })
  permissions_boundary = local.permissions_boundary_arn

  tags = local.tags
}

resource "aws_chatbot_slack_channel_configuration" "alarms" {
  count = var.alarm_slack == null ? 0 : 1

  configuration_name = "${local.name}-alarms"
  iam_role_arn       = aws_iam_role.chatbot[0].arn
  slack_team_id      = var.alarm_slack.workspace_id
  slack_channel_id   = var.alarm_slack.channel_id
  sns_topic_arns     = [aws_sns_topic.alarms.arn]
  # Nobody runs AWS commands from Slack: the channel role has no permissions, and the guardrail
  # would cap them at reading CloudWatch if it ever got any.
  guardrail_policy_arns       = ["arn:${local.partition}:iam::aws:policy/CloudWatchReadOnlyAccess"]
  user_authorization_required = true
  logging_level               = "ERROR"

  tags = local.tags
}

check "alarms_reach_a_person" {
  assert {
    condition     = var.alarm_slack != null
    error_message = "CloudWatch alarms and RDS events go to SNS topic ${local.name}-alarms, which reaches nobody until alarm_slack is set (terraform/README.md, step 2)."
  }
}
