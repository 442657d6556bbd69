# The network path for Terraform's plan and apply: the API endpoint is private (plus admin CIDRs in
# dev), and refreshing the Helm releases needs it, so CI runs on self-hosted GitHub runners inside
# this VPC (labels self-hosted, gitops-<env>; terraform/README.md launches one). They get this
# security group, which the cluster's security group admits on 443.

resource "aws_security_group" "ci_runner" {
  #checkov:skip=CKV2_AWS_5:Attached to the runner instance, which is launched outside Terraform because it needs a one-hour GitHub registration token.
  name        = "${local.name}-ci-runner"
  description = "Self-hosted GitHub runners for terraform plan/apply of ${local.name}"
  vpc_id      = module.vpc.vpc_id

  tags = local.tags
}

resource "aws_vpc_security_group_egress_rule" "ci_runner_https" {
  security_group_id = aws_security_group.ci_runner.id
  description       = "HTTPS only: GitHub, the Terraform and Helm registries and AWS APIs (through NAT), and the cluster API"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}
