# One environment's network and EKS cluster: VPC, control plane, node group and the keys that encrypt their logs.

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

# Three named AZs, not "whatever the region lists": a new AZ must never reshuffle the subnets.
data "aws_availability_zones" "available" {
  filter {
    name   = "zone-name"
    values = [for s in ["a", "b", "c"] : "${var.region}${s}"]
  }

  lifecycle {
    postcondition {
      condition     = length(self.names) == 3
      error_message = "The region must offer zones a, b and c."
    }
  }
}

locals {
  # The seed every name grows from; k8s/, the Argo CD apps and the contract tests all bind to it.
  name    = "gitops-${var.env}"
  is_prod = var.env == "prod"

  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  azs        = sort(data.aws_availability_zones.available.names)

  tags = merge(var.tags, { "gitops/environment" = var.env })

  # The GitHub Actions roles terraform/bootstrap creates for this env (tests/contract/apply.rs binds
  # the names). Apply administers the cluster; plan only reads what the Helm provider refreshes.
  ci_role_arns = {
    for mode in ["plan", "apply"] : mode => "arn:${local.partition}:iam::${local.account_id}:role/${local.name}-terraform-${mode}"
  }

  # The one IngressGroup every Ingress joins (k8s/components/alb group.name), so the cluster has one ALB.
  ingress_group = "gitops-platform"

  # Where modules/cluster-addons' Helm releases keep their release Secrets (contract-tested).
  helm_release_namespaces = ["argocd", "cosign-system", "external-secrets", "kube-system", "monitoring", "reloader"]
}

################################################################################
# VPC: private subnets for nodes, public for the ALB, intra for the control plane
################################################################################

module "vpc" {
  source  = "terraform-aws-modules/vpc/aws"
  version = "6.6.0"

  name = local.name
  cidr = var.vpc_cidr
  azs  = local.azs

  private_subnets = [for k, _ in local.azs : cidrsubnet(var.vpc_cidr, 4, k)]
  public_subnets  = [for k, _ in local.azs : cidrsubnet(var.vpc_cidr, 8, k + 48)]
  intra_subnets   = [for k, _ in local.azs : cidrsubnet(var.vpc_cidr, 8, k + 52)]

  # PostgreSQL (database.tf): no route to the internet, and a subnet group for RDS.
  database_subnets                   = local.database_subnets
  create_database_subnet_group       = true
  database_subnet_group_name         = "${local.name}-database"
  create_database_subnet_route_table = true

  # Dev accepts one NAT gateway as a single point of failure to save money; prod survives an AZ loss.
  enable_nat_gateway     = true
  single_nat_gateway     = !local.is_prod
  one_nat_gateway_per_az = local.is_prod

  map_public_ip_on_launch       = false
  manage_default_security_group = true

  # The AWS Load Balancer Controller discovers subnets by these tags.
  public_subnet_tags  = { "kubernetes.io/role/elb" = "1" }
  private_subnet_tags = { "kubernetes.io/role/internal-elb" = "1" }

  enable_flow_log                                 = true
  create_flow_log_cloudwatch_log_group            = true
  create_flow_log_cloudwatch_iam_role             = true
  flow_log_cloudwatch_log_group_retention_in_days = var.log_retention_days
  flow_log_cloudwatch_log_group_kms_key_id        = aws_kms_key.logs.arn
  vpc_flow_log_iam_role_name                      = "${local.name}-vpc-flow-log"
  # IAM names under gitops-<env>- and the env's boundary: the only roles and policies CI may create.
  vpc_flow_log_iam_policy_name      = "${local.name}-vpc-flow-log"
  vpc_flow_log_permissions_boundary = local.permissions_boundary_arn

  tags = local.tags
}

################################################################################
# EKS
################################################################################

module "eks" {
  source  = "terraform-aws-modules/eks/aws"
  version = "21.19.0"

  name               = local.name
  kubernetes_version = var.kubernetes_version

  vpc_id                   = module.vpc.vpc_id
  subnet_ids               = module.vpc.private_subnets
  control_plane_subnet_ids = module.vpc.intra_subnets

  endpoint_private_access      = true
  endpoint_public_access       = length(var.endpoint_public_access_cidrs) > 0
  endpoint_public_access_cidrs = var.endpoint_public_access_cidrs

  # Access entries only: no aws-auth ConfigMap, no implicit admin for whoever ran the first apply.
  authentication_mode                      = "API"
  enable_cluster_creator_admin_permissions = false
  access_entries = merge(
    {
      for arn in concat(var.cluster_admin_role_arns, [local.ci_role_arns.apply]) : reverse(split("/", arn))[0] => {
        principal_arn = arn
        policy_associations = {
          cluster_admin = {
            policy_arn   = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
            access_scope = { type = "cluster" }
          }
        }
      }
    },
    {
      # A plan refreshes the Helm releases, whose records the env roots keep in ConfigMaps
      # (helm_driver = "configmap"): view access without Secrets, in exactly those namespaces and
      # nothing cluster-wide. Pull requests' code runs with this role, so it reads no Secret value.
      "${local.name}-terraform-plan" = {
        principal_arn = local.ci_role_arns.plan
        policy_associations = {
          helm_release_view = {
            policy_arn   = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
            access_scope = { type = "namespace", namespaces = local.helm_release_namespaces }
          }
        }
      }
    },
  )

  # The plan and apply runners (runner.tf) reach the private endpoint; nothing else is added.
  security_group_additional_rules = {
    for mode, sg in aws_security_group.ci_runner : "ci_runner_${mode}_https" => {
      description              = "Terraform ${mode} runners in this VPC reach the Kubernetes API"
      protocol                 = "tcp"
      from_port                = 443
      to_port                  = 443
      type                     = "ingress"
      source_security_group_id = sg.id
    }
  }

  # Every role the module creates carries the env's permissions boundary (identities.tf).
  iam_role_permissions_boundary = local.permissions_boundary_arn

  # Kubernetes Secrets are envelope-encrypted with the module's customer-managed key (rotation on).
  encryption_config       = { resources = ["secrets"] }
  enable_kms_key_rotation = true
  kms_key_administrators  = concat(var.cluster_admin_role_arns, [local.ci_role_arns.apply])

  enabled_log_types                      = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
  cloudwatch_log_group_retention_in_days = var.log_retention_days
  cloudwatch_log_group_kms_key_id        = aws_kms_key.logs.arn

  deletion_protection = local.is_prod

  # Pod Identity gives the controllers their AWS roles, so no IAM OIDC provider (IRSA) is created:
  # an unused trust anchor is attack surface, not a convenience.
  enable_irsa = false

  # Exact add-on builds from the env root, never "the newest": an unrelated apply must not roll the
  # cluster's DNS, proxy or CNI. Renovate proposes new builds as PRs (renovate.json).
  addons = {
    coredns    = { addon_version = var.addon_versions.coredns, most_recent = false }
    kube-proxy = { addon_version = var.addon_versions.kube_proxy, most_recent = false }
    vpc-cni = {
      addon_version  = var.addon_versions.vpc_cni
      most_recent    = false
      before_compute = true
      # Enforce the NetworkPolicies shipped in k8s/.
      configuration_values = jsonencode({ enableNetworkPolicy = "true" })
    }
    eks-pod-identity-agent = {
      addon_version  = var.addon_versions.eks_pod_identity_agent
      most_recent    = false
      before_compute = true
    }
  }

  eks_managed_node_groups = {
    default = {
      name     = "${local.name}-default"
      ami_type = "AL2023_x86_64_STANDARD"
      # One exact EKS AMI release, not the latest: a new AMI rolls every node, so it arrives as a
      # reviewed PR (renovate.json), never as a side effect of an unrelated apply.
      ami_release_version            = var.node_ami_release_version
      use_latest_ami_release_version = false
      instance_types                 = var.node_group.instance_types
      capacity_type                  = var.node_group.capacity_type
      min_size                       = var.node_group.min_size
      max_size                       = var.node_group.max_size
      desired_size                   = var.node_group.desired_size

      # IMDSv2 only, and pods cannot reach IMDS (hop limit 1): they use Pod Identity, never the node role.
      # This is why the Load Balancer Controller gets region and vpcId as chart values.
      metadata_options = {
        http_endpoint               = "enabled"
        http_tokens                 = "required"
        http_put_response_hop_limit = 1
        instance_metadata_tags      = "disabled"
      }

      block_device_mappings = {
        xvda = {
          device_name = "/dev/xvda"
          ebs = {
            volume_size           = 40
            volume_type           = "gp3"
            encrypted             = true
            delete_on_termination = true
          }
        }
      }

      update_config = { max_unavailable_percentage = 33 }

      iam_role_permissions_boundary = local.permissions_boundary_arn
    }
  }

  tags = local.tags
}

################################################################################
# KMS key for the control-plane and VPC flow log groups
################################################################################

# The statement every customer-managed key here starts from: the account root administers the key,
# which is the AWS default that lets IAM policies govern it.
data "aws_iam_policy_document" "key_admin" {
  #checkov:skip=CKV_AWS_109:Key policy: "*" means this key only; the account-root statement is the AWS default that lets IAM policies govern the key.
  #checkov:skip=CKV_AWS_111:Key policy: "*" means this key only; the account-root statement is the AWS default that lets IAM policies govern the key.
  #checkov:skip=CKV_AWS_356:Key policy: "*" means this key only; the account-root statement is the AWS default that lets IAM policies govern the key.
  statement {
    sid       = "AccountRootAdministersKey"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

data "aws_iam_policy_document" "logs_key" {
  source_policy_documents = [data.aws_iam_policy_document.key_admin.json]

  #checkov:skip=CKV_AWS_109:Key policy: "*" means this key only (the logs service, scoped by condition below).
  #checkov:skip=CKV_AWS_111:Key policy: "*" means this key only (the logs service, scoped by condition below).
  #checkov:skip=CKV_AWS_356:Key policy: "*" means this key only (the logs service, scoped by condition below).

  statement {
    sid       = "CloudWatchLogsUseKeyForThisAccountsLogGroups"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:*"]
    }
  }
}

resource "aws_kms_key" "logs" {
  description             = "${local.name}: EKS control-plane and VPC flow log groups"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.logs_key.json

  tags = local.tags
}

resource "aws_kms_alias" "logs" {
  name          = "alias/${local.name}-logs"
  target_key_id = aws_kms_key.logs.key_id
}
