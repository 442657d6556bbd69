output "state_bucket" {
  description = "The Terraform state bucket; pass it to every env root at init."
  value       = aws_s3_bucket.state.bucket
}

output "init_commands" {
  description = "The init command of each env root (run from the repository root)."
  value = {
    for env in ["dev", "prod"] :
    env => "terraform -chdir=terraform/envs/${env} init -backend-config=\"bucket=${aws_s3_bucket.state.bucket}\""
  }
}
