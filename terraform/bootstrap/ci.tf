# GitHub Actions' identities in AWS, per env: a read-only plan role (pull requests) and an apply role
# (the terraform-<env> GitHub environment, reviewers on prod). OIDC, so no AWS key is ever stored.
# terraform/modules/platform-cluster grants these same role names their EKS access entries.

locals {
  envs         = ["dev", "prod"]
  partition    = data.aws_partition.current.partition
  account_id   = data.aws_caller_identity.current.account_id
  github_oidc  = "token.actions.githubusercontent.com"
  state_bucket = "arn:${local.partition}:s3:::gitops-tfstate-${local.account_id}"

  # The `sub` claims each role trusts. Plans run for pull requests and on main (drift checks); an
  # apply only from a job in its env's GitHub environment, which holds prod's required reviewers.
  ci_subjects = {
    for env in local.envs : env => {
      plan  = ["${var.github_subject_prefix}:pull_request", "${var.github_subject_prefix}:ref:refs/heads/main"]
      apply = ["${var.github_subject_prefix}:environment:terraform-${env}"]
    }
  }

  ci_trust = {
    for env in local.envs : env => {
      for mode in ["plan", "apply"] : mode => jsonencode({
        Version = "2012-10-17"
        Statement = [{
          Sid       = "GitHubActions${title(mode)}${title(env)}"
          Effect    = "Allow"
          Action    = "sts:AssumeRoleWithWebIdentity"
          Principal = { Federated = "arn:${local.partition}:iam::${local.account_id}:oidc-provider/${local.github_oidc}" }
          Condition = {
            StringEquals = { "${local.github_oidc}:aud" = "sts.amazonaws.com" }
            StringLike   = { "${local.github_oidc}:sub" = local.ci_subjects[env][mode] }
          }
        }]
      })
    }
  }

  # Both roles list only their own env's state prefix.
  ci_list_own_state = {
    for env in local.envs : env => {
      Sid       = "ListOwnStatePrefix"
      Effect    = "Allow"
      Action    = "s3:ListBucket"
      Resource  = local.state_bucket
      Condition = { StringLike = { "s3:prefix" = "gitops/${env}/*" } }
    }
  }

  # Plan: read what the env's resources look like and its own state object, nothing else. No write
  # action anywhere; the state is read with -lock=false.
  ci_plan_policy = {
    for env in local.envs : env => jsonencode({
      Version = "2012-10-17"
      Statement = [
        {
          Sid    = "DescribeWhatTheEnvBuilds"
          Effect = "Allow"
          Action = [
            "autoscaling:Describe*", "ec2:Describe*", "eks:Describe*", "eks:List*", "iam:Get*", "iam:List*",
            "kms:Describe*", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListResourceTags",
            "logs:Describe*", "logs:ListTagsForResource", "logs:ListTagsLogGroup",
            "secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy", "sts:GetCallerIdentity",
          ]
          Resource = "*"
        },
        local.ci_list_own_state[env],
        {
          Sid      = "ReadOwnState"
          Effect   = "Allow"
          Action   = "s3:GetObject"
          Resource = "${local.state_bucket}/gitops/${env}/terraform.tfstate"
        },
        {
          Sid      = "DecryptState"
          Effect   = "Allow"
          Action   = "kms:Decrypt"
          Resource = aws_kms_key.state.arn
        },
      ]
    })
  }

  # Apply: what the env's resources need, scoped to the env's names where AWS can scope by name (IAM,
  # EKS, Secrets Manager, state), and by service where IDs exist only after creation (VPC, KMS keys,
  # log groups, autoscaling). Dev and prod in separate accounts is the stronger wall; see README.
  ci_apply_policy = {
    for env in local.envs : env => jsonencode({
      Version = "2012-10-17"
      Statement = [
        {
          Sid      = "ServicesWithoutNameScoping"
          Effect   = "Allow"
          Action   = ["autoscaling:*", "ec2:*", "kms:*", "logs:*", "sts:GetCallerIdentity", "eks:DescribeAddonVersions", "eks:ListClusters"]
          Resource = "*"
        },
        {
          Sid    = "OwnCluster"
          Effect = "Allow"
          Action = "eks:*"
          Resource = [
            "arn:${local.partition}:eks:${var.region}:${local.account_id}:cluster/gitops-${env}",
            "arn:${local.partition}:eks:${var.region}:${local.account_id}:*/gitops-${env}/*",
          ]
        },
        {
          Sid    = "OwnIamRolesAndPolicies"
          Effect = "Allow"
          Action = "iam:*"
          Resource = [
            "arn:${local.partition}:iam::${local.account_id}:role/gitops-${env}-*",
            "arn:${local.partition}:iam::${local.account_id}:policy/gitops-${env}-*",
          ]
        },
        {
          Sid      = "ReadIam"
          Effect   = "Allow"
          Action   = ["iam:Get*", "iam:List*"]
          Resource = "*"
        },
        {
          Sid      = "ServiceLinkedRoles"
          Effect   = "Allow"
          Action   = "iam:CreateServiceLinkedRole"
          Resource = "arn:${local.partition}:iam::${local.account_id}:role/aws-service-role/*"
        },
        {
          # Never GetSecretValue: Terraform owns the secrets' existence, people set their values.
          Sid      = "OwnSecrets"
          Effect   = "Allow"
          Action   = ["secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy", "secretsmanager:UpdateSecret", "secretsmanager:DeleteSecret", "secretsmanager:RestoreSecret", "secretsmanager:TagResource", "secretsmanager:UntagResource"]
          Resource = "arn:${local.partition}:secretsmanager:${var.region}:${local.account_id}:secret:gitops/*/${env}-??????"
        },
        {
          Sid      = "CreateSecrets"
          Effect   = "Allow"
          Action   = "secretsmanager:CreateSecret"
          Resource = "*"
          Condition = {
            StringLike = { "secretsmanager:Name" = "gitops/*/${env}" }
          }
        },
        local.ci_list_own_state[env],
        {
          Sid    = "ReadWriteOwnStateAndLock"
          Effect = "Allow"
          Action = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
          Resource = [
            "${local.state_bucket}/gitops/${env}/terraform.tfstate",
            "${local.state_bucket}/gitops/${env}/terraform.tfstate.tflock",
          ]
        },
      ]
    })
  }
}

data "aws_partition" "current" {}

resource "aws_iam_openid_connect_provider" "github" {
  url            = "https://${local.github_oidc}"
  client_id_list = ["sts.amazonaws.com"]
}

resource "aws_iam_role" "ci" {
  for_each = { for pair in setproduct(local.envs, ["plan", "apply"]) : "${pair[0]}-${pair[1]}" => { env = pair[0], mode = pair[1] } }

  name                 = "gitops-${each.value.env}-terraform-${each.value.mode}"
  description          = "GitHub Actions: terraform ${each.value.mode} of gitops-${each.value.env}"
  assume_role_policy   = local.ci_trust[each.value.env][each.value.mode]
  max_session_duration = 3600

  depends_on = [aws_iam_openid_connect_provider.github]
}

resource "aws_iam_role_policy" "ci_plan" {
  for_each = toset(local.envs)

  name   = "terraform-plan"
  role   = aws_iam_role.ci["${each.key}-plan"].id
  policy = local.ci_plan_policy[each.key]
}

resource "aws_iam_role_policy" "ci_apply" {
  for_each = toset(local.envs)

  name   = "terraform-apply"
  role   = aws_iam_role.ci["${each.key}-apply"].id
  policy = local.ci_apply_policy[each.key]
}

# The state key's policy is the account default (bootstrap/main.tf), so IAM grants it. Apply writes.
resource "aws_iam_role_policy" "ci_apply_state_key" {
  for_each = toset(local.envs)

  name = "terraform-state-key"
  role = aws_iam_role.ci["${each.key}-apply"].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "EncryptDecryptState"
      Effect   = "Allow"
      Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
      Resource = aws_kms_key.state.arn
    }]
  })
}
