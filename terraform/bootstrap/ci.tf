# GitHub Actions' identities in AWS, per env: a read-only plan role (pull requests, prod's once a
# reviewer lets them into the terraform-prod-plan environment; main's drift checks) and an apply
# role (the terraform-<env> GitHub environment). OIDC, so no AWS key is ever stored. Every policy is a JSON template in iam/ (rendered with sample values and judged by
# cloudsplaining in `make test`); every role carries its env's permissions boundary, the wall that
# keeps one env's roles off the other env's resources whatever their own policies say.
# terraform/modules/platform-cluster grants these same role names their EKS access entries.

locals {
  partition   = data.aws_partition.current.partition
  account_id  = data.aws_caller_identity.current.account_id
  github_oidc = "token.actions.githubusercontent.com"

  # What every template of an env is rendered with. other_env names the env whose state prefix the
  # boundary denies (in an account of its own an env simply has no such prefix).
  ci_template_vars = {
    for env in var.envs : env => {
      partition         = local.partition
      account_id        = local.account_id
      region            = var.region
      env               = env
      other_env         = [for e in ["dev", "prod"] : e if e != env][0]
      state_bucket      = aws_s3_bucket.state.bucket
      state_key_arn     = aws_kms_key.state.arn
      boundary_arn      = "arn:${local.partition}:iam::${local.account_id}:policy/gitops-${env}-boundary"
      connection_arn    = aws_codeconnections_connection.github.arn
      oidc_provider_arn = "arn:${local.partition}:iam::${local.account_id}:oidc-provider/${local.github_oidc}"
      subject_prefix    = var.github_subject_prefix
      # Whose pull requests' plans the plan role trusts: dev's, any of this repository's; prod's
      # (which read prod's state and resources) only those a reviewer other than the run's starter
      # let into the terraform-prod-plan environment.
      plan_pr_subject = env == "prod" ? "environment:terraform-prod-plan" : "pull_request"
    }
  }

  # The trust of each role: plans for pull requests (prod's through terraform-prod-plan) and main
  # (drift), an apply only from a job in its env's GitHub environment (branch policy main; reviewers
  # on prod: .github/github-settings.json).
  ci_trust = {
    for env in var.envs : env => {
      for mode in ["plan", "apply"] : mode => templatefile("${path.module}/iam/ci-${mode}-trust.json.tftpl", local.ci_template_vars[env])
    }
  }

  # Plan reads what the env's resources look like and its own state object; apply adds the writes.
  ci_read_policy  = { for env in var.envs : env => templatefile("${path.module}/iam/ci-read.json.tftpl", local.ci_template_vars[env]) }
  ci_apply_policy = { for env in var.envs : env => templatefile("${path.module}/iam/ci-apply.json.tftpl", local.ci_template_vars[env]) }
  boundary_policy = { for env in var.envs : env => templatefile("${path.module}/iam/boundary.json.tftpl", local.ci_template_vars[env]) }

  ci_roles = { for pair in setproduct(var.envs, ["plan", "apply"]) : "${pair[0]}-${pair[1]}" => { env = pair[0], mode = pair[1] } }
}

data "aws_partition" "current" {}

resource "aws_iam_openid_connect_provider" "github" {
  url            = "https://${local.github_oidc}"
  client_id_list = ["sts.amazonaws.com"]
}

# The ceiling of every role CI or Terraform creates for an env: the CI roles below, and every role
# the env roots create (modules/platform-cluster passes it to each module that makes a role).
resource "aws_iam_policy" "boundary" {
  for_each = toset(var.envs)

  name        = "gitops-${each.key}-boundary"
  description = "Permissions boundary of every gitops-${each.key} role: nothing tagged for another env, no role without this boundary, no role changes itself"
  policy      = local.boundary_policy[each.key]

  tags = { "gitops/environment" = each.key }
}

resource "aws_iam_role" "ci" {
  for_each = local.ci_roles

  name                 = "gitops-${each.value.env}-terraform-${each.value.mode}"
  description          = "GitHub Actions: terraform ${each.value.mode} of gitops-${each.value.env}"
  assume_role_policy   = local.ci_trust[each.value.env][each.value.mode]
  permissions_boundary = aws_iam_policy.boundary[each.value.env].arn
  max_session_duration = 3600

  tags = { "gitops/environment" = each.value.env }

  depends_on = [aws_iam_openid_connect_provider.github]
}

resource "aws_iam_role_policy" "ci_read" {
  for_each = local.ci_roles

  name   = "terraform-read"
  role   = aws_iam_role.ci[each.key].id
  policy = local.ci_read_policy[each.value.env]
}

resource "aws_iam_role_policy" "ci_apply" {
  for_each = toset(var.envs)

  name   = "terraform-apply"
  role   = aws_iam_role.ci["${each.key}-apply"].id
  policy = local.ci_apply_policy[each.key]
}
