# Own state for prod, locked with an S3 lock object (no DynamoDB). The bucket is account-specific, so it is
# passed at init time: terraform init -backend-config="bucket=gitops-tfstate-<account-id>" (terraform/bootstrap output)
terraform {
  backend "s3" {
    key          = "gitops/prod/terraform.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    use_lockfile = true
  }
}
