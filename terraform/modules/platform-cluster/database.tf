# The environment's PostgreSQL for api-app's tasks: RDS in the database subnets, reachable on 5432 from the nodes only.

locals {
  # The facts api-app's DATABASE_URL and the bootstrap Job in k8s/ must agree with; tests/contract/database.rs
  # holds the overlays to these values. RDS creates the empty database; the bootstrap Job creates the role.
  database = {
    name        = "tasks"
    port        = 5432
    app_user    = "api_app"
    master_user = "platform_admin"
    # The PostgreSQL major: the engine version and the parameter family both follow it (a major
    # upgrade changes this one variable, terraform/README.md "Major PostgreSQL upgrade").
    engine_version  = var.database_engine_version
    app_secret_name = "gitops/demo-api/${var.env}/db"
    # TLS is verified against the instance's own endpoint name (libpq's verify-full), with RDS's CA for this
    # region: the bundle k8s/components/database-tls mounts at this path, holding this CA among others.
    ca_identifier  = "rds-ca-rsa2048-g1"
    ca_bundle_file = "/etc/rds-ca/ca.pem"
  }

  # api-app's DATABASE_URL: the instance's endpoint (known only after apply), no password. The root
  # Application hands it to api-app's overlay (modules/cluster-addons), replacing the SET-BY-TERRAFORM host
  # of the URL Git holds; tests/contract/database.rs keeps the two identical otherwise.
  database_url = "postgres://${local.database.app_user}@${local.database_serving.db_instance_address}:${local.database.port}/${local.database.name}?sslmode=verify-full&sslrootcert=${local.database.ca_bundle_file}"

  # The instance api-app uses: the live one, or the side-by-side restore once var.database_restore.serve
  # says so (terraform/README.md, "Restore from a snapshot"). The restore never touches the live one.
  database_serves_restore = var.database_restore == null ? false : var.database_restore.serve
  database_serving        = local.database_serves_restore ? one(module.db_restore) : module.db

  # Windows in UTC. Prod: the quiet night hours. Dev: inside its running hours (the database runs
  # 06:30-20:30 Europe/Dublin on weekdays, which is 05:30-19:30 UTC in summer and 06:30-20:30 in winter),
  # because RDS takes no automated backup of a stopped instance and defers its maintenance.
  # tests/contract/database.rs holds dev's windows inside the schedule in both seasons.
  database_windows = local.is_prod ? {
    backup      = "02:00-03:00"
    maintenance = "sun:03:30-sun:04:30"
    } : {
    backup      = "11:00-11:30"
    maintenance = "wed:12:00-wed:12:30"
  }

  # What distinguishes a prod database from a dev one. Derived from env, never from a variable, so no tfvars
  # file can turn them off; tests/database.tftest.hcl asserts them through output.database.
  database_protection = {
    multi_az                     = local.is_prod
    deletion_protection          = local.is_prod
    skip_final_snapshot          = !local.is_prod
    performance_insights_enabled = local.is_prod
    publicly_accessible          = false
  }

  # One /22 holds the three /24 database subnets, so the pods' NetworkPolicy egress is one CIDR
  # (10.x.56.0/22: after private 0-47, public 48-50 and intra 52-54).
  database_subnets_cidr = cidrsubnet(var.vpc_cidr, 6, 14)
  database_subnets      = [for k, _ in local.azs : cidrsubnet(local.database_subnets_cidr, 2, k)]

  # Who may open connections to 5432. Pods use the VPC CNI's node ENIs, so the node security group covers them;
  # nothing else is ever added here.
  database_clients = {
    eks_nodes = module.eks.node_security_group_id
  }

  database_app_secret_arn_pattern = "arn:${local.partition}:secretsmanager:${var.region}:${local.account_id}:secret:${local.database.app_secret_name}-??????"
  # RDS names the master secret rds!db-<uuid>; only this env's instance uses the database key, so the key
  # policy may match the prefix, while the IAM policy below names the exact ARN.
  database_master_secret_arn_pattern = "arn:${local.partition}:secretsmanager:${var.region}:${local.account_id}:secret:rds!db-*"

  # ESO reads the app's password (Secret api-app-db) and, during a sync only, the master credentials the
  # bootstrap Job needs (k8s/components/aws/api-app). Same two actions as for the API key, on two exact ARNs.
  # The master secret is the serving instance's: after a restore is served, the bootstrap hook logs
  # in to the restored instance with its own new master secret.
  external_secrets_database_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadOwnEnvDatabaseAppSecret"
        Effect   = "Allow"
        Action   = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
        Resource = local.database_app_secret_arn_pattern
      },
      {
        Sid      = "ReadOwnEnvDatabaseMasterSecret"
        Effect   = "Allow"
        Action   = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
        Resource = local.database_serving.db_instance_master_user_secret_arn
      },
    ]
  })
}

################################################################################
# Key: storage, snapshots, Performance Insights and both database secrets
################################################################################

# Kept when the env is torn down: the final snapshot and the retained automated backups are encrypted
# with it, and a snapshot whose key is deleted can never be read again. A destroy refuses to delete it;
# the teardown takes it out of state first and leaves it (terraform/README.md, "Teardown"; $1 a month).
resource "aws_kms_key" "database" {
  description             = "${local.name}: encrypts the PostgreSQL instance, its snapshots and its secrets"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.secret_key["database"].json

  tags = local.tags

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_kms_alias" "database" {
  name          = "alias/${local.name}-database"
  target_key_id = aws_kms_key.database.key_id
}

################################################################################
# Network: a security group whose only source is the cluster
################################################################################

resource "aws_security_group" "database" {
  #checkov:skip=CKV2_AWS_5:Attached to the RDS instance through module.db (vpc_security_group_ids), which checkov does not resolve offline.
  name        = "${local.name}-database"
  description = "PostgreSQL for ${local.name}: 5432 from the EKS nodes only"
  vpc_id      = module.vpc.vpc_id

  # No egress rules: RDS only answers connections, it never opens any.

  tags = merge(local.tags, { Name = "${local.name}-database" })
}

resource "aws_vpc_security_group_ingress_rule" "database" {
  for_each = local.database_clients

  security_group_id            = aws_security_group.database.id
  description                  = "PostgreSQL from ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = local.database.port
  to_port                      = local.database.port
  referenced_security_group_id = each.value

  tags = local.tags
}

################################################################################
# The instance
################################################################################

module "db" {
  source  = "terraform-aws-modules/rds/aws"
  version = "7.2.0"

  identifier = local.name

  engine               = "postgres"
  engine_version       = local.database.engine_version
  family               = "postgres${local.database.engine_version}"
  major_engine_version = local.database.engine_version
  # Off unless a reviewed major upgrade sets it (terraform/README.md, "Major PostgreSQL upgrade").
  allow_major_version_upgrade = var.database_allow_major_version_upgrade
  instance_class              = var.database.instance_class
  # PostgreSQL has no option groups.
  create_db_option_group = false

  allocated_storage     = var.database.allocated_storage_gb
  max_allocated_storage = var.database.max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.database.arn

  # RDS creates the empty database; the bootstrap Job makes api_app its owner (k8s/components/database-bootstrap).
  # Never a snapshot_identifier here: a restore builds module.db_restore beside this instance.
  db_name  = local.database.name
  username = local.database.master_user
  port     = local.database.port

  # RDS generates the master password into Secrets Manager and rotates it; it never passes through Terraform.
  manage_master_user_password   = true
  master_user_secret_kms_key_id = aws_kms_key.database.arn

  # The server certificate chains to this CA, which api-app and the bootstrap Job trust (verify-full).
  ca_cert_identifier = local.database.ca_identifier

  db_subnet_group_name   = module.vpc.database_subnet_group_name
  vpc_security_group_ids = [aws_security_group.database.id]
  publicly_accessible    = local.database_protection.publicly_accessible
  multi_az               = local.database_protection.multi_az

  deletion_protection              = local.database_protection.deletion_protection
  skip_final_snapshot              = local.database_protection.skip_final_snapshot
  final_snapshot_identifier_prefix = "${local.name}-final"
  copy_tags_to_snapshot            = true
  # Kept after a delete, until their retention ends: the backups of a destroyed or replaced instance
  # are what a restore needs.
  delete_automated_backups   = false
  backup_retention_period    = var.database.backup_retention_days
  backup_window              = local.database_windows.backup
  maintenance_window         = local.database_windows.maintenance
  auto_minor_version_upgrade = true
  apply_immediately          = !local.is_prod

  performance_insights_enabled          = local.database_protection.performance_insights_enabled
  performance_insights_retention_period = 7
  performance_insights_kms_key_id       = local.database_protection.performance_insights_enabled ? aws_kms_key.database.arn : null

  create_monitoring_role               = local.is_prod
  monitoring_role_name                 = "${local.name}-rds-monitoring"
  monitoring_role_permissions_boundary = local.permissions_boundary_arn
  monitoring_interval                  = local.is_prod ? 60 : 0

  enabled_cloudwatch_logs_exports        = ["postgresql", "upgrade"]
  create_cloudwatch_log_group            = true
  cloudwatch_log_group_retention_in_days = var.log_retention_days
  cloudwatch_log_group_kms_key_id        = aws_kms_key.logs.arn

  parameters = [
    # Refuse unencrypted connections (api-app connects with sslmode=verify-full).
    { name = "rds.force_ssl", value = "1" },
    { name = "password_encryption", value = "scram-sha-256" },
    { name = "log_min_duration_statement", value = "1000" },
  ]

  tags = local.tags
}

################################################################################
# Restore side by side: a second instance from a snapshot, never the live one replaced
################################################################################

# Exists only while var.database_restore is set: built from the snapshot under its own identifier, in
# the same subnets, security group, key and parameter group, with the env's protections. The live
# instance is untouched; api-app moves to this one only when `serve` is set (local.database_serving:
# DATABASE_URL and the master secret follow), and back by unsetting it.
module "db_restore" {
  source  = "terraform-aws-modules/rds/aws"
  version = "7.2.0"
  count   = var.database_restore == null ? 0 : 1

  identifier          = "${local.name}-restore"
  snapshot_identifier = var.database_restore.snapshot_identifier

  engine                      = "postgres"
  engine_version              = local.database.engine_version
  major_engine_version        = local.database.engine_version
  allow_major_version_upgrade = var.database_allow_major_version_upgrade
  instance_class              = var.database.instance_class
  create_db_option_group      = false
  create_db_parameter_group   = false
  parameter_group_name        = module.db.db_parameter_group_id

  allocated_storage     = var.database.allocated_storage_gb
  max_allocated_storage = var.database.max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.database.arn
  port                  = local.database.port

  # A new master secret for this instance (RDS keeps no password in a snapshot's secret).
  manage_master_user_password   = true
  master_user_secret_kms_key_id = aws_kms_key.database.arn
  ca_cert_identifier            = local.database.ca_identifier

  db_subnet_group_name   = module.vpc.database_subnet_group_name
  vpc_security_group_ids = [aws_security_group.database.id]
  publicly_accessible    = local.database_protection.publicly_accessible
  multi_az               = local.database_protection.multi_az

  deletion_protection              = local.database_protection.deletion_protection
  skip_final_snapshot              = local.database_protection.skip_final_snapshot
  final_snapshot_identifier_prefix = "${local.name}-restore-final"
  copy_tags_to_snapshot            = true
  delete_automated_backups         = false
  backup_retention_period          = var.database.backup_retention_days
  backup_window                    = local.database_windows.backup
  maintenance_window               = local.database_windows.maintenance
  auto_minor_version_upgrade       = true
  apply_immediately                = true

  performance_insights_enabled          = local.database_protection.performance_insights_enabled
  performance_insights_retention_period = 7
  performance_insights_kms_key_id       = local.database_protection.performance_insights_enabled ? aws_kms_key.database.arn : null
  monitoring_interval                   = local.is_prod ? 60 : 0
  monitoring_role_arn                   = local.is_prod ? module.db.enhanced_monitoring_iam_role_arn : null

  enabled_cloudwatch_logs_exports        = ["postgresql", "upgrade"]
  create_cloudwatch_log_group            = true
  cloudwatch_log_group_retention_in_days = var.log_retention_days
  cloudwatch_log_group_kms_key_id        = aws_kms_key.logs.arn

  tags = local.tags
}

################################################################################
# The app role's password: generated, written once, never held by Terraform
################################################################################

resource "aws_secretsmanager_secret" "database_app" {
  #checkov:skip=CKV2_AWS_57:Rotated by the documented put-value + sync procedure (terraform/README.md), which re-runs the bootstrap Job; the value never enters Terraform state.
  name                    = local.database.app_secret_name
  description             = "Password of PostgreSQL role ${local.database.app_user} in ${local.name}: JSON {\"password\": ...}. Generated by Terraform (write-only, never in state); the bootstrap Job sets it on the role."
  kms_key_id              = aws_kms_key.database.arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = local.tags
}

module "database_app_secret_value" {
  source = "../secret-first-value"

  secret_id      = aws_secretsmanager_secret.database_app.id
  generated_keys = ["password"]
  length         = local.generated_secret_length
}

################################################################################
# Dev: the database sleeps after the nodes and wakes before them
################################################################################

locals {
  # RDS needs a few minutes to start; the pods come back with the nodes and should find it up.
  database_start_lead_minutes = 30
  # And it stops only once the nodes are gone: pods still draining at the scale-down minute would lose
  # their database and page DatabaseUnreachable (store_up 0 for a minute) every evening.
  database_stop_lag_minutes = 30

  node_schedule_fields = var.node_scale_down_schedule == null ? {} : {
    down = split(" ", trimspace(var.node_scale_down_schedule.scale_down_recurrence))
    up   = split(" ", trimspace(var.node_scale_down_schedule.scale_up_recurrence))
  }

  # Minute of the day the database starts: the nodes' scale-up minus the lead; -1 when that is not a plain time.
  database_start_minute = var.node_scale_down_schedule == null ? -1 : try(
    tonumber(local.node_schedule_fields.up[1]) * 60 + tonumber(local.node_schedule_fields.up[0]) - local.database_start_lead_minutes,
    -1,
  )
  # Minute of the day it stops: the nodes' scale-down plus the lag; -1 when that is not a plain time.
  database_stop_minute = var.node_scale_down_schedule == null ? -1 : try(
    tonumber(local.node_schedule_fields.down[1]) * 60 + tonumber(local.node_schedule_fields.down[0]) + local.database_stop_lag_minutes,
    -1,
  )

  # EventBridge Scheduler wants six fields with "?" in day-of-month or day-of-week; the autoscaling
  # recurrences have five.
  database_schedule = var.node_scale_down_schedule == null ? {} : {
    stop = {
      action = "stopDBInstance"
      fields = concat(
        [tostring(local.database_stop_minute % 60), tostring(floor(local.database_stop_minute / 60))],
        slice(local.node_schedule_fields.down, 2, 5),
      )
    }
    start = {
      action = "startDBInstance"
      fields = concat(
        [tostring(local.database_start_minute % 60), tostring(floor(local.database_start_minute / 60))],
        slice(local.node_schedule_fields.up, 2, 5),
      )
    }
  }
}

resource "aws_scheduler_schedule" "database" {
  #checkov:skip=CKV_AWS_297:The schedule's only payload is the instance identifier; an AWS-owned key is enough.
  for_each = local.database_schedule

  name                         = "${local.name}-database-${each.key}"
  description                  = "${each.value.action} ${local.name} around the node group's off-hours schedule (stop after the nodes, start before them)"
  schedule_expression          = format("cron(%s %s %s %s %s *)", each.value.fields[0], each.value.fields[1], each.value.fields[4] == "*" ? each.value.fields[2] : "?", each.value.fields[3], each.value.fields[4] == "*" ? "?" : each.value.fields[4])
  schedule_expression_timezone = var.node_scale_down_schedule.time_zone

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = "arn:${local.partition}:scheduler:::aws-sdk:rds:${each.value.action}"
    role_arn = aws_iam_role.database_scheduler[0].arn
    input    = jsonencode({ DbInstanceIdentifier = local.database_serving.db_instance_identifier })

    retry_policy {
      maximum_event_age_in_seconds = 3600
      maximum_retry_attempts       = 5
    }
  }

  lifecycle {
    precondition {
      condition     = local.database_start_minute >= 0
      error_message = "The scale-up recurrence must name a plain minute and hour at or after 00:30, so the database can start ${local.database_start_lead_minutes} minutes before the nodes on the same day."
    }

    precondition {
      condition     = local.database_stop_minute >= 0 && local.database_stop_minute < 24 * 60
      error_message = "The scale-down recurrence must name a plain minute and hour at or before 23:29, so the database can stop ${local.database_stop_lag_minutes} minutes after the nodes on the same day."
    }

    precondition {
      # Autoscaling counts days 0-6 from Sunday, EventBridge 1-7: only names mean the same day in both.
      condition     = !can(regex("[0-9]", each.value.fields[4]))
      error_message = "Write the schedule's days of week as names (MON-FRI), not numbers: autoscaling and EventBridge number them differently."
    }
  }
}

resource "aws_iam_role" "database_scheduler" {
  count = length(local.database_schedule) > 0 ? 1 : 0

  name                 = "${local.name}-database-scheduler"
  description          = "EventBridge Scheduler stops and starts ${local.name}'s database off hours"
  assume_role_policy   = templatefile("${path.module}/iam/database-scheduler-trust.json.tftpl", local.database_scheduler_template_vars)
  permissions_boundary = local.permissions_boundary_arn

  tags = local.tags
}

resource "aws_iam_role_policy" "database_scheduler" {
  count = length(local.database_schedule) > 0 ? 1 : 0

  name   = "stop-start-${local.name}-database"
  role   = aws_iam_role.database_scheduler[0].id
  policy = templatefile("${path.module}/iam/database-scheduler.json.tftpl", local.database_scheduler_template_vars)
}

locals {
  # The scheduler role's documents (iam/database-scheduler*.json.tftpl): this instance, and starting
  # it needs a grant on its key.
  database_scheduler_template_vars = {
    partition        = local.partition
    account_id       = local.account_id
    region           = var.region
    name             = local.name
    db_instance_arn  = local.database_serving.db_instance_arn
    database_key_arn = aws_kms_key.database.arn
  }
}
