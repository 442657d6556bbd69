# Only account-specific values are variables here; everything that defines dev is a literal in main.tf.

variable "cluster_admin_role_arns" {
  type        = list(string)
  description = "People's IAM roles with cluster-admin on gitops-dev (an admin role, a break-glass role). The CI roles from terraform/bootstrap are added by the module. In CI: the CLUSTER_ADMIN_ROLE_ARNS_DEV repository variable (a JSON list)."
}

variable "endpoint_public_access_cidrs" {
  type        = list(string)
  description = "CIDRs that may reach the gitops-dev Kubernetes API (admin VPN, CI runner egress). Empty means private endpoint only. Never 0.0.0.0/0."
  default     = []
}

variable "allowed_account_ids" {
  type        = list(string)
  description = "The AWS account(s) gitops-dev may be applied in; null (the default) allows any, for the seed's single shared account. Set it when each env has an account of its own (terraform/README.md). In CI: the AWS_ACCOUNT_ID_DEV repository variable."
  default     = null
}
