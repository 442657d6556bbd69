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

variable "allowed_account_ids" {
  type        = list(string)
  description = "The AWS account(s) gitops-prod may be applied in; null (the default) allows any, for the seed's single shared account. Set it when each env has an account of its own (terraform/README.md). In CI: the AWS_ACCOUNT_ID_PROD repository variable."
  default     = null
}

variable "dns_zone_name" {
  type        = string
  description = "Public Route 53 zone in this account (e.g. example.com); gitops-prod is served as gitops-prod.<zone> with an ACM certificate Terraform creates. In CI: the DNS_ZONE_NAME repository variable."
}

# Only a person has these. Type them into the first apply's environment (TF_VAR_*, terraform/README.md):
# ephemeral, so written once, write-only, and never in plan, state or a file. CI leaves them unset.
variable "dockerhub_username" {
  type        = string
  description = "Docker Hub account the cluster pulls as. First apply only."
  default     = null
  ephemeral   = true
}

variable "dockerhub_token" {
  type        = string
  description = "Read-only Docker Hub access token of that account. First apply only."
  default     = null
  ephemeral   = true
}

variable "slack_webhook_url" {
  type        = string
  description = "Slack incoming-webhook URL for alerts. First apply only."
  default     = null
  ephemeral   = true
}

variable "heartbeat_url" {
  type        = string
  description = "Ping URL of the dead man's switch (healthchecks.io or similar). First apply only."
  default     = null
  ephemeral   = true
}

variable "alarm_slack" {
  type = object({
    workspace_id = string
    channel_id   = string
  })
  description = "Slack workspace (team) ID and channel ID for gitops-prod's CloudWatch alarms and RDS events, through AWS Chatbot (authorize the workspace in its console once per account). In CI: the ALARM_SLACK_PROD repository variable (JSON), set by the github_variables output."
  default     = null
}
