# The GitHub App credentials Argo CD Notifications records GitHub Deployments with: Terraform owns
# the secret's existence, encryption and reader, never its value (terraform/README.md).

locals {
  # Must equal the remoteRef key of the ExternalSecret modules/cluster-addons renders (tests/contract).
  deployment_records_secret_name        = "gitops/argocd-notifications/${var.env}"
  deployment_records_secret_arn_pattern = "arn:${local.partition}:secretsmanager:${var.region}:${local.account_id}:secret:${local.deployment_records_secret_name}-??????"

  # A second document on ESO's role, next to external_secrets_policy: one secret, read only.
  deployment_records_secret_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "ReadOwnEnvDeploymentRecordsSecret"
      Effect   = "Allow"
      Action   = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
      Resource = local.deployment_records_secret_arn_pattern
    }]
  })
}

resource "aws_secretsmanager_secret" "deployment_records" {
  #checkov:skip=CKV2_AWS_57:A GitHub App private key is rotated in GitHub (new key, then delete the old one), not by a Lambda; the value never enters Terraform.
  name        = local.deployment_records_secret_name
  description = "GitHub App credentials for Argo CD Notifications in ${local.name}: JSON {\"appID\", \"installationID\", \"privateKey\"}. Value set out of band (terraform/README.md)."
  # The key ESO already decrypts with (secret.tf); its policy lists this secret's ARN too.
  kms_key_id              = aws_kms_key.api_secret.arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = local.tags
}
