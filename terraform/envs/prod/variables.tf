# Only account-specific values are variables here; everything that defines prod is a literal in main.tf.

variable "cluster_admin_role_arns" {
  type        = list(string)
  description = "IAM roles with cluster-admin on gitops-prod: the role Terraform runs as (it installs the Helm add-ons) plus a break-glass admin role."
}

variable "endpoint_public_access_cidrs" {
  type        = list(string)
  description = "CIDRs that may reach the gitops-prod Kubernetes API (admin VPN, CI runner egress). Empty means private endpoint only. Never 0.0.0.0/0."
  default     = []
}
