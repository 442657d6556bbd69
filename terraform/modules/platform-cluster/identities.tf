# Per-environment AWS identities for in-cluster controllers, bound to exact service accounts through EKS Pod Identity.

locals {
  # The only service accounts with AWS identities. The Helm releases (modules/cluster-addons) install
  # into exactly these namespaces and service accounts; tests/contract/terraform.rs holds them to k8s/.
  pod_identities = {
    argo_rollouts = {
      role_name       = "${local.name}-argo-rollouts"
      namespace       = "argo-rollouts"
      service_account = "argo-rollouts"
    }
    aws_load_balancer_controller = {
      role_name       = "${local.name}-aws-lbc"
      namespace       = "kube-system"
      service_account = "aws-load-balancer-controller"
    }
    external_secrets = {
      role_name       = "${local.name}-external-secrets"
      namespace       = "external-secrets"
      service_account = "external-secrets"
    }
  }

  # The ceiling of every role this module creates, in its own resources and through the community
  # modules: terraform/bootstrap creates it per env, and the CI apply role may create a role only
  # with it attached (terraform/bootstrap/iam/boundary.json.tftpl).
  permissions_boundary_arn = "arn:${local.partition}:iam::${local.account_id}:policy/${local.name}-boundary"

  # Secrets Manager appends "-" and six random characters to every secret ARN; "??????" matches exactly
  # those, so the policy names one secret and cannot match e.g. gitops/demo-api/dev-other.
  api_secret_arn_pattern = "arn:${local.partition}:secretsmanager:${var.region}:${local.account_id}:secret:${local.api_secret_name}-??????"

  # ESO reads keys by name (no dataFrom.find), so it needs neither ListSecrets nor BatchGetSecretValue.
  # kms:Decrypt is granted by each secret's key policy (secret.tf, ops-secret.tf), not here.
  external_secrets_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "ReadOwnEnvSecrets"
      Effect   = "Allow"
      Action   = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
      Resource = [local.api_secret_arn_pattern, local.registry_secret_arn_pattern, local.ops_secret_arn_pattern]
    }]
  })

  # Argo Rollouts' target group verification (modules/cluster-addons/rollouts.tf): before it scales
  # down the old ReplicaSet it reads the ALB's target groups, their health and the listener rules,
  # to see the new pods registered and the weights applied. The ELB Describe actions take no
  # resource-level permissions, so "*" is the narrowest resource; the actions are read-only.
  argo_rollouts_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid    = "ReadLoadBalancers"
      Effect = "Allow"
      Action = [
        "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeRules",
        "elasticloadbalancing:DescribeTags",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth",
      ]
      Resource = "*"
    }]
  })
}

module "argo_rollouts_pod_identity" {
  source  = "terraform-aws-modules/eks-pod-identity/aws"
  version = "2.8.1"

  name                     = local.pod_identities.argo_rollouts.role_name
  use_name_prefix          = false
  permissions_boundary_arn = local.permissions_boundary_arn
  description              = "Argo Rollouts controller in ${local.name}: reads the ALB's target groups to verify a release's pods are registered"

  attach_custom_policy      = true
  source_policy_documents   = [local.argo_rollouts_policy]
  custom_policy_description = "Describe the ALB, its listeners, rules, target groups and target health, nothing else"

  associations = {
    argo_rollouts = {
      cluster_name    = module.eks.cluster_name
      namespace       = local.pod_identities.argo_rollouts.namespace
      service_account = local.pod_identities.argo_rollouts.service_account
    }
  }

  tags = local.tags
}

module "external_secrets_pod_identity" {
  source  = "terraform-aws-modules/eks-pod-identity/aws"
  version = "2.8.1"

  name                     = local.pod_identities.external_secrets.role_name
  use_name_prefix          = false
  permissions_boundary_arn = local.permissions_boundary_arn
  description              = "External Secrets Operator in ${local.name}: reads ${local.api_secret_name}, ${local.registry_secret_name}, ${local.ops_secret_name}, ${local.deployment_records_secret_name} and the database secrets only"

  attach_custom_policy      = true
  source_policy_documents   = [local.external_secrets_policy, local.deployment_records_secret_policy, local.external_secrets_database_policy]
  custom_policy_description = "Read ${local.api_secret_name}, ${local.registry_secret_name}, ${local.ops_secret_name}, ${local.deployment_records_secret_name}, ${local.database.app_secret_name} and the database master secret, nothing else"

  associations = {
    external_secrets = {
      cluster_name    = module.eks.cluster_name
      namespace       = local.pod_identities.external_secrets.namespace
      service_account = local.pod_identities.external_secrets.service_account
    }
  }

  tags = local.tags
}

module "aws_lbc_pod_identity" {
  source  = "terraform-aws-modules/eks-pod-identity/aws"
  version = "2.8.1"

  name                     = local.pod_identities.aws_load_balancer_controller.role_name
  use_name_prefix          = false
  permissions_boundary_arn = local.permissions_boundary_arn
  description              = "AWS Load Balancer Controller in ${local.name}"

  # The controller's published policy, as maintained by the module. Named per env so dev and prod can
  # share an account without colliding on the module's default policy name.
  attach_aws_lb_controller_policy = true
  aws_lb_controller_policy_name   = local.pod_identities.aws_load_balancer_controller.role_name

  associations = {
    aws_load_balancer_controller = {
      cluster_name    = module.eks.cluster_name
      namespace       = local.pod_identities.aws_load_balancer_controller.namespace
      service_account = local.pod_identities.aws_load_balancer_controller.service_account
    }
  }

  tags = local.tags
}
