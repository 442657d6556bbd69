# The API key secret: Terraform owns its existence, encryption and recovery window, never its value.

locals {
  # Must equal the ExternalSecret remoteRef key in k8s/overlays/<env>/api-app (tests/contract/terraform.rs).
  api_secret_name = "gitops/demo-api/${var.env}"
}

data "aws_iam_policy_document" "api_secret_key" {
  source_policy_documents = [data.aws_iam_policy_document.key_admin.json]

  #checkov:skip=CKV_AWS_109:Key policy: "*" means this key only (ESO's role, scoped by conditions below).
  #checkov:skip=CKV_AWS_111:Key policy: "*" means this key only (ESO's role, scoped by conditions below).
  #checkov:skip=CKV_AWS_356:Key policy: "*" means this key only (ESO's role, scoped by conditions below).

  # ESO's role may decrypt only through Secrets Manager, only for the secrets of this env it delivers.
  statement {
    sid       = "ExternalSecretsDecryptsOwnEnvApiSecret"
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
      values   = [local.api_secret_arn_pattern, local.registry_secret_arn_pattern, local.ops_secret_arn_pattern, local.deployment_records_secret_arn_pattern]
    }
  }
}

resource "aws_kms_key" "api_secret" {
  description             = "${local.name}: encrypts ${local.api_secret_name}, ${local.registry_secret_name}, ${local.ops_secret_name} and ${local.deployment_records_secret_name}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.api_secret_key.json

  tags = local.tags
}

resource "aws_kms_alias" "api_secret" {
  name          = "alias/${local.name}-api-secret"
  target_key_id = aws_kms_key.api_secret.key_id
}

resource "aws_secretsmanager_secret" "api" {
  #checkov:skip=CKV2_AWS_57:Rotated by the documented two-key procedure (API_KEY_PREVIOUS), not a Lambda; the value never enters Terraform.
  name                    = local.api_secret_name
  description             = "api-app keys for ${local.name}: JSON {\"API_KEY\": ..., \"API_KEY_PREVIOUS\": ...}. Value set out of band (terraform/README.md)."
  kms_key_id              = aws_kms_key.api_secret.arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = local.tags
}
