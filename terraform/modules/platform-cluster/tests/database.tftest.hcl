# Plan-only: what protects each environment's PostgreSQL, and who may reach it. No credentials; the community
# modules are replaced by their outputs, so the assertions read our own resources and outputs.

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
    vpc_id                     = "vpc-0123456789abcdef0"
    private_subnets            = ["subnet-a", "subnet-b", "subnet-c"]
    intra_subnets              = ["subnet-d", "subnet-e", "subnet-f"]
    database_subnet_group_name = "gitops-test-database"
  }
}

override_module {
  target = module.eks
  outputs = {
    cluster_name                                    = "gitops-test"
    node_security_group_id                          = "sg-0nodes000000000000"
    eks_managed_node_groups_autoscaling_group_names = ["eks-gitops-default-asg"]
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

override_module {
  target = module.db_restore
  outputs = {
    db_instance_address                = "gitops-test-restore.abcdefghijkl.eu-west-1.rds.amazonaws.com"
    db_instance_arn                    = "arn:aws:rds:eu-west-1:111122223333:db:gitops-test-restore"
    db_instance_identifier             = "gitops-test-restore"
    db_instance_master_user_secret_arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!db-1111-AbCdEf"
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

run "prod_is_multi_az_deletion_protected_and_keeps_a_final_snapshot" {
  command = plan

  variables {
    env                      = "prod"
    kubernetes_version       = "1.34"
    addon_versions           = { coredns = "v1.12.4-eksbuild.1", kube_proxy = "v1.34.1-eksbuild.2", vpc_cni = "v1.21.1-eksbuild.1", eks_pod_identity_agent = "v1.3.10-eksbuild.2" }
    node_ami_release_version = "1.34.2-20260128"
    log_retention_days       = 365
  }

  assert {
    condition     = output.database.multi_az && output.database.deletion_protection
    error_message = "prod's database must be Multi-AZ and deletion-protected."
  }

  assert {
    condition     = !output.database.skip_final_snapshot && output.database.performance_insights_enabled
    error_message = "prod's database must take a final snapshot and run Performance Insights."
  }

  assert {
    condition     = output.database.backup_retention_days >= 7
    error_message = "prod keeps backups for at least 7 days."
  }

  assert {
    condition     = length(aws_scheduler_schedule.database) == 0 && length(aws_iam_role.database_scheduler) == 0
    error_message = "prod's database never stops on a schedule."
  }
}

run "dev_is_neither_multi_az_nor_deletion_protected" {
  command = plan

  variables {
    env                      = "dev"
    kubernetes_version       = "1.35"
    addon_versions           = { coredns = "v1.13.2-eksbuild.1", kube_proxy = "v1.35.0-eksbuild.2", vpc_cni = "v1.21.1-eksbuild.3", eks_pod_identity_agent = "v1.3.10-eksbuild.3" }
    node_ami_release_version = "1.35.3-20260415"
    log_retention_days       = 30
  }

  assert {
    condition     = !output.database.multi_az && !output.database.deletion_protection
    error_message = "dev's database is single-AZ and can be destroyed."
  }

  assert {
    condition     = output.database.skip_final_snapshot && !output.database.performance_insights_enabled
    error_message = "dev skips the final snapshot and Performance Insights (cost)."
  }
}

run "dev_database_stops_with_the_nodes_and_starts_before_them" {
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
    condition     = aws_scheduler_schedule.database["stop"].schedule_expression == "cron(30 20 ? * MON-FRI *)"
    error_message = "The database must stop 30 minutes after the nodes scale down, once no pod can page for it."
  }

  assert {
    condition     = aws_scheduler_schedule.database["start"].schedule_expression == "cron(30 6 ? * MON-FRI *)"
    error_message = "The database must start 30 minutes before the nodes scale up."
  }

  assert {
    condition     = alltrue([for s in aws_scheduler_schedule.database : s.schedule_expression_timezone == "Europe/Dublin"])
    error_message = "The database schedule runs in the nodes' time zone."
  }

  assert {
    condition     = aws_scheduler_schedule.database["stop"].target[0].arn == "arn:aws:scheduler:::aws-sdk:rds:stopDBInstance" && aws_scheduler_schedule.database["start"].target[0].arn == "arn:aws:scheduler:::aws-sdk:rds:startDBInstance"
    error_message = "The schedules call RDS StopDBInstance and StartDBInstance."
  }

  assert {
    condition     = jsondecode(aws_scheduler_schedule.database["stop"].target[0].input).DbInstanceIdentifier == "gitops-test"
    error_message = "The schedules target this env's instance."
  }

  assert {
    condition     = jsondecode(aws_iam_role_policy.database_scheduler[0].policy).Statement[0].Resource == "arn:aws:rds:eu-west-1:111122223333:db:gitops-test"
    error_message = "The scheduler may stop and start this instance only."
  }
}

run "dev_schedule_with_numeric_days_is_refused" {
  command = plan

  variables {
    env                      = "dev"
    kubernetes_version       = "1.35"
    addon_versions           = { coredns = "v1.13.2-eksbuild.1", kube_proxy = "v1.35.0-eksbuild.2", vpc_cni = "v1.21.1-eksbuild.3", eks_pod_identity_agent = "v1.3.10-eksbuild.3" }
    node_ami_release_version = "1.35.3-20260415"
    log_retention_days       = 30
    node_scale_down_schedule = {
      time_zone             = "Europe/Dublin"
      scale_down_recurrence = "0 20 * * 1-5"
      scale_up_recurrence   = "0 7 * * 1-5"
    }
  }

  expect_failures = [aws_scheduler_schedule.database]
}

run "the_security_groups_only_source_is_the_cluster" {
  command = plan

  variables {
    env                      = "prod"
    kubernetes_version       = "1.34"
    addon_versions           = { coredns = "v1.12.4-eksbuild.1", kube_proxy = "v1.34.1-eksbuild.2", vpc_cni = "v1.21.1-eksbuild.1", eks_pod_identity_agent = "v1.3.10-eksbuild.2" }
    node_ami_release_version = "1.34.2-20260128"
    log_retention_days       = 365
  }

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.database) == 1
    error_message = "The database security group has exactly one ingress rule."
  }

  assert {
    condition     = output.database.security_group_sources == ["sg-0nodes000000000000"]
    error_message = "The only source is the EKS node security group (pods use the node ENIs)."
  }

  assert {
    condition = alltrue([for r in aws_vpc_security_group_ingress_rule.database :
      r.security_group_id == aws_security_group.database.id && r.ip_protocol == "tcp" && r.from_port == 5432 && r.to_port == 5432
    ])
    error_message = "The rule admits TCP 5432 into the database security group and nothing else."
  }
}

run "nothing_grants_the_database_to_0_0_0_0_slash_0" {
  command = plan

  variables {
    env                      = "dev"
    kubernetes_version       = "1.35"
    addon_versions           = { coredns = "v1.13.2-eksbuild.1", kube_proxy = "v1.35.0-eksbuild.2", vpc_cni = "v1.21.1-eksbuild.3", eks_pod_identity_agent = "v1.3.10-eksbuild.3" }
    node_ami_release_version = "1.35.3-20260415"
    log_retention_days       = 30
  }

  assert {
    condition = alltrue([for r in aws_vpc_security_group_ingress_rule.database :
      r.cidr_ipv4 == null && r.cidr_ipv6 == null && r.prefix_list_id == null
    ])
    error_message = "No ingress rule of the database may use a CIDR or prefix list; sources are security groups."
  }

  assert {
    condition     = !output.database.publicly_accessible
    error_message = "The instance has no public address."
  }

  assert {
    condition     = output.database.subnets_cidr == "10.0.56.0/22"
    error_message = "The database lives in its own /22 of database subnets (no internet route)."
  }
}

run "eso_reads_exactly_this_envs_database_secrets" {
  command = plan

  variables {
    env                      = "prod"
    kubernetes_version       = "1.34"
    addon_versions           = { coredns = "v1.12.4-eksbuild.1", kube_proxy = "v1.34.1-eksbuild.2", vpc_cni = "v1.21.1-eksbuild.1", eks_pod_identity_agent = "v1.3.10-eksbuild.2" }
    node_ami_release_version = "1.34.2-20260128"
    log_retention_days       = 365
  }

  assert {
    condition = [for s in jsondecode(output.external_secrets_database_policy).Statement : s.Resource] == [
      "arn:aws:secretsmanager:eu-west-1:111122223333:secret:gitops/demo-api/prod/db-??????",
      "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!db-0000-AbCdEf",
    ]
    error_message = "ESO may read the prod app password secret and prod's master secret, by exact ARN."
  }

  assert {
    condition = alltrue([for s in jsondecode(output.external_secrets_database_policy).Statement :
      s.Effect == "Allow" && toset(s.Action) == toset(["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"])
    ])
    error_message = "ESO may only GetSecretValue and DescribeSecret."
  }

  assert {
    condition     = aws_secretsmanager_secret.database_app.name == "gitops/demo-api/prod/db" && aws_secretsmanager_secret.database_app.kms_key_id == aws_kms_key.database.arn
    error_message = "The app password secret is gitops/demo-api/<env>/db, encrypted with the database key."
  }

  assert {
    condition     = aws_kms_key.database.enable_key_rotation
    error_message = "The database key rotates."
  }

  assert {
    condition     = output.database_url == "postgres://api_app@postgres.gitops-prod.internal:5432/tasks?sslmode=require"
    error_message = "DATABASE_URL names role api_app, database tasks, port 5432, TLS required, and no password."
  }

  assert {
    condition     = aws_route53_record.database.records == toset(["gitops-test.abcdefghijkl.eu-west-1.rds.amazonaws.com"]) && aws_route53_record.database.name == "postgres.gitops-prod.internal"
    error_message = "The private name points at the instance."
  }
}

# A restore builds beside the live instance and api-app stays on the live one until `serve`.
run "a_restore_is_built_beside_the_live_instance_and_served_only_when_asked" {
  command = plan

  variables {
    env                      = "prod"
    kubernetes_version       = "1.34"
    addon_versions           = { coredns = "v1.12.4-eksbuild.1", kube_proxy = "v1.34.1-eksbuild.2", vpc_cni = "v1.21.1-eksbuild.1", eks_pod_identity_agent = "v1.3.10-eksbuild.2" }
    node_ami_release_version = "1.34.2-20260128"
    log_retention_days       = 365
    database_restore         = { snapshot_identifier = "gitops-test-pre-restore" }
  }

  assert {
    condition     = output.database_endpoint == "gitops-test.abcdefghijkl.eu-west-1.rds.amazonaws.com"
    error_message = "Until serve is set, api-app stays on the live instance."
  }
}

run "a_served_restore_moves_the_url_and_the_master_secret" {
  command = plan

  variables {
    env                      = "prod"
    kubernetes_version       = "1.34"
    addon_versions           = { coredns = "v1.12.4-eksbuild.1", kube_proxy = "v1.34.1-eksbuild.2", vpc_cni = "v1.21.1-eksbuild.1", eks_pod_identity_agent = "v1.3.10-eksbuild.2" }
    node_ami_release_version = "1.34.2-20260128"
    log_retention_days       = 365
    database_restore         = { snapshot_identifier = "gitops-test-pre-restore", serve = true }
  }

  assert {
    condition     = strcontains(output.database_url, "@gitops-test-restore.abcdefghijkl.eu-west-1.rds.amazonaws.com:5432/")
    error_message = "Served, DATABASE_URL names the restored instance's own endpoint."
  }

  assert {
    condition     = output.database_master_secret_arn == "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!db-1111-AbCdEf"
    error_message = "Served, the bootstrap hook logs in with the restored instance's master secret."
  }
}
