# gitops-prod: three AZs with a NAT gateway each, a year of logs, deletion protection, no sleep schedule.

locals {
  env    = "prod"
  region = "eu-west-1"
}

provider "aws" {
  region = local.region
  # One account per env is the stronger wall: set this env's account and the provider refuses any
  # other credentials (terraform/README.md). Unset, the seed's single account serves both envs.
  allowed_account_ids = var.allowed_account_ids

  default_tags {
    tags = {
      Project     = "gitops-platform"
      Environment = local.env
      ManagedBy   = "terraform/envs/prod"
      # What every IAM boundary and CI policy scopes by (terraform/bootstrap/iam): on every resource.
      "gitops/environment" = local.env
    }
  }
}

provider "helm" {
  # Release records in ConfigMaps, not Secrets: the plan role reads them with a view policy that has
  # no Secrets (modules/platform-cluster/main.tf, access entries).
  helm_driver = "configmap"
  kubernetes = {
    host                   = module.platform.cluster_endpoint
    cluster_ca_certificate = base64decode(module.platform.cluster_certificate_authority_data)
    exec = {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", module.platform.cluster_name, "--region", local.region]
    }
  }
}

module "platform" {
  source = "../../modules/platform-cluster"

  env                = local.env
  region             = local.region
  kubernetes_version = "1.34"
  vpc_cidr           = "10.20.0.0/16"

  cluster_admin_role_arns      = var.cluster_admin_role_arns
  endpoint_public_access_cidrs = var.endpoint_public_access_cidrs

  # Three api-app and three demo-app replicas spread over three AZs, with room for a rolling update.
  node_group = {
    instance_types = ["m6i.large"]
    min_size       = 3
    max_size       = 6
    desired_size   = 3
  }

  log_retention_days          = 365
  secret_recovery_window_days = 30

  # PostgreSQL for api-app: Multi-AZ, deletion-protected, Performance Insights (these follow env).
  database = {
    instance_class           = "db.m7g.large"
    allocated_storage_gb     = 50
    max_allocated_storage_gb = 200
    backup_retention_days    = 14
  }

  # WAF blocks in prod.
  waf_mode = "block"
}

module "addons" {
  source = "../../modules/cluster-addons"

  env            = local.env
  region         = module.platform.region
  cluster_name   = module.platform.cluster_name
  vpc_id         = module.platform.vpc_id
  pod_identities = module.platform.pod_identities

  deployment_records_secret_name = module.platform.deployment_records_secret_name
}
