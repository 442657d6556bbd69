output "state_bucket" {
  description = "The Terraform state bucket; pass it to every env root at init."
  value       = aws_s3_bucket.state.bucket
}

output "init_commands" {
  description = "The init command of each env root (run from the repository root)."
  value = {
    for env in var.envs :
    env => "terraform -chdir=terraform/envs/${env} init -backend-config=\"bucket=${aws_s3_bucket.state.bucket}\""
  }
}

output "ci_role_arns" {
  description = "The GitHub Actions roles per env: plan (pull requests, read-only) and apply (environment terraform-<env>)."
  value = {
    for env in var.envs : env => {
      plan  = aws_iam_role.ci["${env}-plan"].arn
      apply = aws_iam_role.ci["${env}-apply"].arn
    }
  }
}

output "github_connection" {
  description = "The CodeConnections connection the runners register through; authorise it once in the console (terraform/README.md) before the first env apply."
  value = {
    arn    = aws_codeconnections_connection.github.arn
    status = aws_codeconnections_connection.github.connection_status
  }
}
