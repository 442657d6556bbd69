# Plan-only: the variable validations that stop expensive or unsafe environments before any API call.

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
  target = data.aws_availability_zones.available
  values = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
}

override_module {
  target  = module.eks
  outputs = { cluster_name = "gitops-test", eks_managed_node_groups_autoscaling_group_names = ["asg"], node_security_group_id = "sg-0nodes000000000000" }
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
  target  = module.vpc
  outputs = { vpc_id = "vpc-0123456789abcdef0", database_subnet_group_name = "gitops-test-database" }
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
  env                      = "prod"
  kubernetes_version       = "1.34"
  addon_versions           = { coredns = "v1.12.4-eksbuild.1", kube_proxy = "v1.34.1-eksbuild.2", vpc_cni = "v1.21.1-eksbuild.1", eks_pod_identity_agent = "v1.3.10-eksbuild.2" }
  node_ami_release_version = "1.34.2-20260128"
  log_retention_days       = 365
  cluster_admin_role_arns  = ["arn:aws:iam::111122223333:role/gitops-terraform"]
  node_group = {
    instance_types = ["m6i.large"]
    min_size       = 3
    max_size       = 6
    desired_size   = 3
  }
  database = {
    instance_class           = "db.t4g.micro"
    allocated_storage_gb     = 20
    max_allocated_storage_gb = 50
    backup_retention_days    = 7
  }
}

run "prod_api_endpoint_rejects_0_0_0_0_slash_0" {
  command = plan

  variables {
    endpoint_public_access_cidrs = ["0.0.0.0/0"]
  }

  expect_failures = [var.endpoint_public_access_cidrs]
}

run "prod_api_endpoint_rejects_a_split_open_internet" {
  command = plan

  variables {
    endpoint_public_access_cidrs = ["0.0.0.0/1", "128.0.0.0/1"]
  }

  expect_failures = [var.endpoint_public_access_cidrs]
}

run "prod_api_endpoint_accepts_admin_cidrs" {
  command = plan

  variables {
    endpoint_public_access_cidrs = ["203.0.113.0/24"]
  }

  # Planning at all proves the validations accept a narrow admin CIDR; the assertion pins the env.
  assert {
    condition     = output.resource_names.cluster == "gitops-prod"
    error_message = "The prod plan must be for gitops-prod."
  }
}

run "prod_refuses_a_scale_down_schedule" {
  command = plan

  variables {
    node_scale_down_schedule = {
      time_zone             = "Europe/Dublin"
      scale_down_recurrence = "0 20 * * MON-FRI"
      scale_up_recurrence   = "0 7 * * MON-FRI"
    }
  }

  expect_failures = [var.node_scale_down_schedule]
}

run "prod_refuses_short_log_retention" {
  command = plan

  variables {
    log_retention_days = 30
  }

  expect_failures = [var.log_retention_days]
}

run "env_must_be_dev_or_prod" {
  command = plan

  variables {
    env = "staging"
  }

  expect_failures = [var.env]
}

run "node_group_cannot_grow_unbounded" {
  command = plan

  variables {
    node_group = {
      instance_types = ["m6i.large"]
      min_size       = 3
      max_size       = 50
      desired_size   = 3
    }
  }

  expect_failures = [var.node_group]
}

run "secret_cannot_be_force_deleted" {
  command = plan

  variables {
    secret_recovery_window_days = 0
  }

  expect_failures = [var.secret_recovery_window_days]
}

run "ci_roles_are_not_listed_as_admins" {
  command = plan

  variables {
    cluster_admin_role_arns = ["arn:aws:iam::111122223333:role/gitops-prod-terraform-apply"]
  }

  expect_failures = [var.cluster_admin_role_arns]
}

run "prod_refuses_short_database_backups" {
  command = plan

  variables {
    database = {
      instance_class           = "db.m7g.large"
      allocated_storage_gb     = 50
      max_allocated_storage_gb = 200
      backup_retention_days    = 3
    }
  }

  expect_failures = [var.database]
}

run "database_storage_cannot_grow_unbounded" {
  command = plan

  variables {
    database = {
      instance_class           = "db.m7g.large"
      allocated_storage_gb     = 50
      max_allocated_storage_gb = 5000
      backup_retention_days    = 14
    }
  }

  expect_failures = [var.database]
}

run "an_add_on_build_of_another_minor_is_refused" {
  command = plan

  variables {
    addon_versions = { coredns = "v1.12.4-eksbuild.1", kube_proxy = "v1.35.0-eksbuild.2", vpc_cni = "v1.21.1-eksbuild.1", eks_pod_identity_agent = "v1.3.10-eksbuild.2" }
  }

  expect_failures = [var.addon_versions]
}

run "a_floating_add_on_version_is_refused" {
  command = plan

  variables {
    addon_versions = { coredns = "latest", kube_proxy = "v1.34.1-eksbuild.2", vpc_cni = "v1.21.1-eksbuild.1", eks_pod_identity_agent = "v1.3.10-eksbuild.2" }
  }

  expect_failures = [var.addon_versions]
}

run "a_node_ami_of_another_minor_is_refused" {
  command = plan

  variables {
    node_ami_release_version = "1.35.3-20260415"
  }

  expect_failures = [var.node_ami_release_version]
}
