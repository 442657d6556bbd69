# Own state for dev, locked with an S3 lock object (no DynamoDB). The bucket is account-specific, so it is
# passed at init time: terraform init -backend-config="bucket=gitops-tfstate-<account-id>" (terraform/bootstrap output)
terraform {
  backend "s3" {
    # kms_key_id: the state key (terraform/bootstrap). With `encrypt` alone Terraform writes with
    # SSE-S3 (AES256), which overrides the bucket's KMS default; the bucket policy refuses such writes.
    key          = "gitops/dev/terraform.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    kms_key_id   = "alias/gitops-tfstate"
    use_lockfile = true
  }
}
