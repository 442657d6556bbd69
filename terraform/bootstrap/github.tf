# The account's one link to GitHub: the CodeBuild runners of every env (modules/platform-cluster/
# runner.tf) register through it. Terraform creates it PENDING; a person authorises it once in the
# console (Developer Tools > Settings > Connections > gitops-github > Update pending connection),
# which installs the AWS Connector GitHub App on this repository only. No token is typed anywhere.
resource "aws_codeconnections_connection" "github" {
  name          = "gitops-github"
  provider_type = "GitHub"
}

# Where the env roots find it (modules/platform-cluster/runner.tf): an ARN, not a secret.
resource "aws_ssm_parameter" "github_connection" {
  #checkov:skip=CKV2_AWS_34:The value is the connection's ARN, which is not a secret; the env roots read it in plain.
  name        = "/gitops/ci/github-connection-arn"
  description = "The CodeConnections connection the gitops CI runners register through"
  type        = "String"
  value       = aws_codeconnections_connection.github.arn
}
