# A reusable module states minimums only; the roots (terraform/envs/*, bootstrap) pin exact versions.
terraform {
  required_version = ">= 1.11"

  required_providers {
    helm = {
      source  = "hashicorp/helm"
      version = ">= 3.0"
    }
  }
}
