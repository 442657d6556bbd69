# The Docker Hub pull credential: anonymous pulls are rate-limited per IP, and a cluster pulls through
# one NAT IP. ESO turns it into Secret registry-pull in each app namespace (k8s/components/registry-pull).
# Only a person can mint the token: it is typed into the first apply and written once, write-only, so it
# is never in plan or state (modules/secret-first-value; terraform/README.md).

locals {
  # Must equal the registry-pull ExternalSecret remoteRef key in k8s/overlays/<env>/* (tests/contract/registry.rs).
  registry_secret_name        = "gitops/dockerhub/${var.env}"
  registry_secret_arn_pattern = "arn:${local.partition}:secretsmanager:${var.region}:${local.account_id}:secret:${local.registry_secret_name}-??????"
}

resource "aws_secretsmanager_secret" "registry" {
  #checkov:skip=CKV2_AWS_57:A Docker Hub access token is minted in Docker Hub by a person (terraform/README.md); no rotation Lambda can create one.
  name                    = local.registry_secret_name
  description             = "Docker Hub pull credential for ${local.name}: JSON {\"username\": ..., \"token\": ...} (a read-only access token), given at the first apply (terraform/README.md)."
  kms_key_id              = aws_kms_key.api_secret.arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = local.tags
}

module "registry_secret_value" {
  source = "../secret-first-value"

  secret_id    = aws_secretsmanager_secret.registry.id
  given_values = { username = var.dockerhub_username, token = var.dockerhub_token }
}
