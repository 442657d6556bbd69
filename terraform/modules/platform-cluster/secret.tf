# The API key secret: Terraform owns its existence, encryption and recovery window, and writes its
# first value, a generated key it never holds (modules/secret-first-value). Rotations happen outside
# Terraform (terraform/README.md).

locals {
  # Must equal the ExternalSecret remoteRef key in k8s/overlays/<env>/api-app (tests/contract/terraform.rs).
  api_secret_name = "gitops/demo-api/${var.env}"

  # Every secret a machine can make is generated here (API key, database password, webhook secret):
  # letters and digits, this long.
  generated_secret_length = 48
}

# The policy of each key that encrypts secrets ESO reads: the account administers the key, and ESO's role may
# decrypt only through Secrets Manager, only for the named secrets. database.tf uses the "database" entry.
data "aws_iam_policy_document" "secret_key" {
  for_each = {
    api_secret = [local.api_secret_arn_pattern, local.registry_secret_arn_pattern, local.ops_secret_arn_pattern, local.deployment_records_secret_arn_pattern]
    database   = [local.database_app_secret_arn_pattern, local.database_master_secret_arn_pattern]
  }

  source_policy_documents = [data.aws_iam_policy_document.key_admin.json]

  #checkov:skip=CKV_AWS_109:Key policy: "*" means this key only (ESO's role, scoped by conditions below).
  #checkov:skip=CKV_AWS_111:Key policy: "*" means this key only (ESO's role, scoped by conditions below).
  #checkov:skip=CKV_AWS_356:Key policy: "*" means this key only (ESO's role, scoped by conditions below).

  statement {
    sid       = "ExternalSecretsDecryptsOwnEnvSecrets"
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
      values   = each.value
    }
  }
}

resource "aws_kms_key" "api_secret" {
  description             = "${local.name}: encrypts ${local.api_secret_name}, ${local.registry_secret_name}, ${local.ops_secret_name} and ${local.deployment_records_secret_name}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.secret_key["api_secret"].json

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

module "api_secret_value" {
  source = "../secret-first-value"

  secret_id      = aws_secretsmanager_secret.api.id
  generated_keys = ["API_KEY"]
  given_values   = { API_KEY_PREVIOUS = "" }
  length         = local.generated_secret_length
}
