# The platform's own credentials, apart from the app's: the GitHub webhook secret Argo CD checks pushes
# with, the Slack incoming-webhook URL Alertmanager pages to, and the ping URL of the dead man's switch
# Alertmanager sends the Watchdog heartbeat to. Terraform generates the webhook secret and writes the
# two URLs a person gives the first apply (only a person can create a Slack webhook or a heartbeat
# check), all write-only: none of them is ever in plan or state (modules/secret-first-value).

locals {
  # Must equal the ExternalSecret remoteRef keys in k8s/argocd/<env> and k8s/overlays/<env>/monitoring
  # (tests/contract/restore_budget.rs and monitoring.rs).
  ops_secret_name        = "gitops/platform-ops/${var.env}"
  ops_secret_arn_pattern = "arn:${local.partition}:secretsmanager:${var.region}:${local.account_id}:secret:${local.ops_secret_name}-??????"
}

resource "aws_secretsmanager_secret" "ops" {
  #checkov:skip=CKV2_AWS_57:The URLs are issued by third parties (Slack, the heartbeat service) and the webhook secret must change in GitHub at the same time; no Lambda can rotate them.
  name        = local.ops_secret_name
  description = "Platform credentials for ${local.name}: JSON {\"GITHUB_WEBHOOK_SECRET\": ..., \"SLACK_WEBHOOK_URL\": ..., \"HEARTBEAT_URL\": ...}. The webhook secret is generated, the URLs given at the first apply (terraform/README.md)."
  # The key that encrypts the API secret; its policy lets ESO decrypt exactly these two (secret.tf).
  kms_key_id              = aws_kms_key.api_secret.arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = local.tags
}

module "ops_secret_value" {
  source = "../secret-first-value"

  secret_id      = aws_secretsmanager_secret.ops.id
  generated_keys = ["GITHUB_WEBHOOK_SECRET"]
  # Only a person can create these; they are typed into the first apply (terraform/README.md).
  given_values = { SLACK_WEBHOOK_URL = var.slack_webhook_url, HEARTBEAT_URL = var.heartbeat_url }
  length       = local.generated_secret_length
}
