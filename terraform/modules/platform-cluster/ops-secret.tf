# The platform's own credentials, apart from the app's: the GitHub webhook secret Argo CD checks pushes
# with, and the Slack incoming-webhook URL Alertmanager pages to. Terraform owns the secret, never its value.

locals {
  # Must equal the ExternalSecret remoteRef keys in k8s/argocd/<env> and k8s/overlays/<env>/monitoring
  # (tests/contract/restore_budget.rs and monitoring.rs).
  ops_secret_name        = "gitops/platform-ops/${var.env}"
  ops_secret_arn_pattern = "arn:${local.partition}:secretsmanager:${var.region}:${local.account_id}:secret:${local.ops_secret_name}-??????"
}

data "aws_iam_policy_document" "ops_secret_key" {
  source_policy_documents = [data.aws_iam_policy_document.key_admin.json]

  #checkov:skip=CKV_AWS_109:Key policy: "*" means this key only (ESO's role, scoped by conditions below).
  #checkov:skip=CKV_AWS_111:Key policy: "*" means this key only (ESO's role, scoped by conditions below).
  #checkov:skip=CKV_AWS_356:Key policy: "*" means this key only (ESO's role, scoped by conditions below).

  # ESO's role may decrypt only through Secrets Manager, only for this env's ops secret.
  statement {
    sid       = "ExternalSecretsDecryptsOwnEnvOpsSecret"
    actions   = ["kms:Decrypt"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [module.external_secrets_pod_identity.iam_role_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.region}.amazonaws.com"]
    }

    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:SecretARN"
      values   = [local.ops_secret_arn_pattern]
    }
  }
}

resource "aws_kms_key" "ops_secret" {
  description             = "${local.name}: encrypts ${local.ops_secret_name}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.ops_secret_key.json

  tags = local.tags
}

resource "aws_kms_alias" "ops_secret" {
  name          = "alias/${local.name}-ops-secret"
  target_key_id = aws_kms_key.ops_secret.key_id
}

resource "aws_secretsmanager_secret" "ops" {
  #checkov:skip=CKV2_AWS_57:Both values are issued by third parties (GitHub, Slack) and rotated there by hand (terraform/README.md); no Lambda can rotate them.
  name                    = local.ops_secret_name
  description             = "Platform credentials for ${local.name}: JSON {\"GITHUB_WEBHOOK_SECRET\": ..., \"SLACK_WEBHOOK_URL\": ...}. Value set out of band (terraform/README.md)."
  kms_key_id              = aws_kms_key.ops_secret.arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = local.tags
}
