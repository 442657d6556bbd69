# Where Terraform's plan and apply run: the API endpoint is private (plus admin CIDRs in dev), and
# refreshing the Helm releases needs it, so CI jobs run inside this VPC, on just-in-time runners AWS
# CodeBuild starts per job: GitHub queues a job whose runs-on names a project, CodeBuild's webhook
# starts a fresh container in the VPC, registers it as a runner for that one job, and throws it away
# afterwards. Nothing survives a job, so no job can leave anything behind for the next one.
#
# Two pools that share nothing: `plan` runs pull requests' (unreviewed) code with the read-only plan
# role, `apply` runs main with the apply role. Each has its own project, service role and security
# group; jobs get AWS access only from their OIDC role (terraform-env.yml), never from the container.

locals {
  # The repository the runners serve: the one Argo CD syncs (k8s/argocd/<env>/root.yaml), so a fork
  # that points Argo CD at itself points its runners at itself too.
  ci_repository_url = yamldecode(file("${path.module}/../../../k8s/argocd/${var.env}/root.yaml")).spec.source.repoURL

  # Which queued jobs start a runner in each pool (CodeBuild webhook filters, all of a group must
  # match). Only the Terraform workflows' jobs; apply only for main. Jobs of pull requests from forks
  # never run without a maintainer's approval (.github/github-settings.json) and skip
  # themselves (terraform.yml).
  ci_runner_pools = {
    plan = {
      workflows = "^(terraform|terraform-drift)$"
      head_ref  = null
    }
    apply = {
      workflows = "^terraform$"
      head_ref  = "^refs/heads/main$"
    }
  }

  ci_runner_projects = { for mode, _ in local.ci_runner_pools : mode => "${local.name}-ci-${mode}" }

  ci_runner_template_vars = {
    for mode, project in local.ci_runner_projects : mode => {
      partition      = local.partition
      account_id     = local.account_id
      region         = var.region
      project        = project
      vpc_arn        = "arn:${local.partition}:ec2:${var.region}:${local.account_id}:vpc/${module.vpc.vpc_id}"
      connection_arn = data.aws_ssm_parameter.github_connection.insecure_value
    }
  }
}

# The one GitHub connection of the account: terraform/bootstrap creates it and publishes its ARN
# here; a person authorises it once in the console, which installs the AWS Connector GitHub App.
data "aws_ssm_parameter" "github_connection" {
  name = "/gitops/ci/github-connection-arn"
}

resource "aws_security_group" "ci_runner" {
  #checkov:skip=CKV2_AWS_5:Attached to the CodeBuild project below (vpc_config), which checkov does not resolve.
  for_each = local.ci_runner_pools

  name        = "${local.name}-ci-${each.key}"
  description = "Just-in-time GitHub runners for terraform ${each.key} of ${local.name}"
  vpc_id      = module.vpc.vpc_id

  tags = local.tags
}

resource "aws_vpc_security_group_egress_rule" "ci_runner_https" {
  for_each = local.ci_runner_pools

  security_group_id = aws_security_group.ci_runner[each.key].id
  description       = "HTTPS only: GitHub, the Terraform and Helm registries and AWS APIs (through NAT), and the cluster API"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443

  tags = local.tags
}

resource "aws_iam_role" "ci_runner" {
  for_each = local.ci_runner_pools

  name                 = "${local.ci_runner_projects[each.key]}-runner"
  description          = "CodeBuild service role of the ${each.key} runners of ${local.name}: its own logs, its network interfaces, the GitHub connection; no Terraform rights"
  assume_role_policy   = templatefile("${path.module}/iam/ci-runner-trust.json.tftpl", local.ci_runner_template_vars[each.key])
  permissions_boundary = local.permissions_boundary_arn

  tags = local.tags
}

resource "aws_iam_role_policy" "ci_runner" {
  for_each = local.ci_runner_pools

  name   = "codebuild-runner"
  role   = aws_iam_role.ci_runner[each.key].id
  policy = templatefile("${path.module}/iam/ci-runner.json.tftpl", local.ci_runner_template_vars[each.key])
}

resource "aws_cloudwatch_log_group" "ci_runner" {
  #checkov:skip=CKV_AWS_338:Retention follows log_retention_days like the cluster's other log groups (30 days in dev).
  for_each = local.ci_runner_pools

  name              = "/aws/codebuild/${local.ci_runner_projects[each.key]}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn

  tags = local.tags
}

resource "aws_codebuild_project" "ci_runner" {
  #checkov:skip=CKV_AWS_147:No artifacts and no cache: the project writes nothing a key would encrypt; its logs go to a log group encrypted with the env's logs key.
  for_each = local.ci_runner_pools

  name          = local.ci_runner_projects[each.key]
  description   = "Just-in-time GitHub Actions runners for terraform ${each.key} of ${local.name} (runs-on: codebuild-${local.ci_runner_projects[each.key]}-<run id>-<attempt>)"
  service_role  = aws_iam_role.ci_runner[each.key].arn
  build_timeout = 60

  artifacts {
    type = "NO_ARTIFACTS"
  }

  environment {
    type                        = "LINUX_CONTAINER"
    compute_type                = "BUILD_GENERAL1_SMALL"
    image                       = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
    image_pull_credentials_type = "CODEBUILD"
    privileged_mode             = false
  }

  source {
    type     = "GITHUB"
    location = local.ci_repository_url

    auth {
      type     = "CODECONNECTIONS"
      resource = data.aws_ssm_parameter.github_connection.insecure_value
    }
  }

  vpc_config {
    vpc_id             = module.vpc.vpc_id
    subnets            = module.vpc.private_subnets
    security_group_ids = [aws_security_group.ci_runner[each.key].id]
  }

  logs_config {
    cloudwatch_logs {
      group_name = aws_cloudwatch_log_group.ci_runner[each.key].name
    }
  }

  tags = local.tags

  depends_on = [aws_iam_role_policy.ci_runner]
}

resource "aws_codebuild_webhook" "ci_runner" {
  for_each = local.ci_runner_pools

  project_name = aws_codebuild_project.ci_runner[each.key].name
  build_type   = "BUILD"

  filter_group {
    filter {
      type    = "EVENT"
      pattern = "WORKFLOW_JOB_QUEUED"
    }

    filter {
      type    = "WORKFLOW_NAME"
      pattern = each.value.workflows
    }

    dynamic "filter" {
      for_each = each.value.head_ref == null ? [] : [each.value.head_ref]
      content {
        type    = "HEAD_REF"
        pattern = filter.value
      }
    }
  }
}
