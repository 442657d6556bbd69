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

  # Exact builds for this minor; Renovate proposes newer ones as PRs (renovate.json). Bump them with
  # kubernetes_version: the module refuses a kube-proxy or AMI of another minor.
  addon_versions = {
    # renovate: eksAddonsFilter={"kubernetesVersion":"1.34","addonName":"coredns"}
    coredns = "v1.12.4-eksbuild.1"
    # renovate: eksAddonsFilter={"kubernetesVersion":"1.34","addonName":"kube-proxy"}
    kube_proxy = "v1.34.1-eksbuild.2"
    # renovate: eksAddonsFilter={"kubernetesVersion":"1.34","addonName":"vpc-cni"}
    vpc_cni = "v1.21.1-eksbuild.1"
    # renovate: eksAddonsFilter={"kubernetesVersion":"1.34","addonName":"eks-pod-identity-agent"}
    eks_pod_identity_agent = "v1.3.10-eksbuild.2"
  }
  # renovate: datasource=github-releases depName=awslabs/amazon-eks-ami
  node_ami_release_version = "1.34.2-20260128"

  vpc_cidr = "10.20.0.0/16"

  cluster_admin_role_arns      = var.cluster_admin_role_arns
  endpoint_public_access_cidrs = var.endpoint_public_access_cidrs
  dns_zone_name                = var.dns_zone_name
  alarm_slack                  = var.alarm_slack

  # What only a person has, written once into its secret (first apply; never in state).
  dockerhub_username = var.dockerhub_username
  dockerhub_token    = var.dockerhub_token
  slack_webhook_url  = var.slack_webhook_url
  heartbeat_url      = var.heartbeat_url

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
  # Releases wait for their pods only when there are nodes to run them (dev sleeps after hours).
  wait_for_pods = module.platform.nodes_awake

  # Values that exist only after the AWS side is applied reach the cluster from here, never from Git.
  certificate_arn            = module.platform.certificate_arn
  web_acl_arn                = module.platform.web_acl_arn
  database_url               = module.platform.database_url
  database_master_secret_arn = module.platform.database_master_secret_arn

  deployment_records_secret_name = module.platform.deployment_records_secret_name
}
