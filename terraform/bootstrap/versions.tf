# Run once per AWS account with local state (this root creates the bucket the others keep state in).
terraform {
  required_version = ">= 1.11, < 2.0"

  # The same exact aws version as the env roots (hashes in .terraform.lock.hcl, terraform-lock.yml).
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "6.28.0"
    }
  }
}
