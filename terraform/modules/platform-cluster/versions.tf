# A reusable module states minimums only; the env roots pin exact ranges and commit the lock file.
terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.28"
    }
  }
}
