# The platform's own credentials, apart from the app's: the GitHub webhook secret Argo CD checks pushes
# with, the Slack incoming-webhook URL Alertmanager pages to, and the ping URL of the dead man's switch
# Alertmanager sends the Watchdog heartbeat to. Terraform owns the secret, never its value.

locals {
  # Must equal the ExternalSecret remoteRef keys in k8s/argocd/<env> and k8s/overlays/<env>/monitoring
  # (tests/contract/restore_budget.rs and monitoring.rs).
  ops_secret_name        = "gitops/platform-ops/${var.env}"
  ops_secret_arn_pattern = "arn:${local.partition}:secretsmanager:${var.region}:${local.account_id}:secret:${local.ops_secret_name}-??????"
}

resource "aws_secretsmanager_secret" "ops" {
  #checkov:skip=CKV2_AWS_57:Both values are issued by third parties (GitHub, Slack) and rotated there by hand (terraform/README.md); no Lambda can rotate them.
  name        = local.ops_secret_name
  description = "Platform credentials for ${local.name}: JSON {\"GITHUB_WEBHOOK_SECRET\": ..., \"SLACK_WEBHOOK_URL\": ..., \"HEARTBEAT_URL\": ...}. Value set out of band (terraform/README.md)."
  # The key that encrypts the API secret; its policy lets ESO decrypt exactly these two (secret.tf).
  kms_key_id              = aws_kms_key.api_secret.arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = local.tags
}
