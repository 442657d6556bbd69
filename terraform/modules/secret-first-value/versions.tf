# A reusable module states minimums only; the roots pin exact versions.
terraform {
  required_version = ">= 1.11" # write-only arguments

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0" # ephemeral aws_secretsmanager_random_password, secret_string_wo
    }
  }
}
