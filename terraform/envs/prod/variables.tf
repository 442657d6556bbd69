# Only account-specific values are variables here; everything that defines prod is a literal in main.tf.

variable "cluster_admin_role_arns" {
  type        = list(string)
  description = "People's IAM roles with cluster-admin on gitops-prod (an admin role, a break-glass role). The CI roles from terraform/bootstrap are added by the module. In CI: the CLUSTER_ADMIN_ROLE_ARNS_PROD repository variable (a JSON list)."
}

variable "endpoint_public_access_cidrs" {
  type        = list(string)
  description = "CIDRs that may reach the gitops-prod Kubernetes API (admin VPN, CI runner egress). Empty means private endpoint only. Never 0.0.0.0/0."
  default     = []
}

variable "dns_zone_name" {
  type        = string
  description = "Public Route 53 zone in this account (e.g. example.com); gitops-prod is served as gitops-prod.<zone> with an ACM certificate Terraform creates. In CI: the DNS_ZONE_NAME repository variable."
}
