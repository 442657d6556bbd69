# A reusable module states minimums only; the env roots pin exact ranges and commit the lock file.
terraform {
  required_version = ">= 1.11"

  required_providers {
    helm = {
      source  = "hashicorp/helm"
      version = ">= 3.0"
    }
  }
}
