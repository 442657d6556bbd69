# A reusable module states minimums only; the roots (terraform/envs/*, bootstrap) pin exact versions.
terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.28"
    }
  }
}
