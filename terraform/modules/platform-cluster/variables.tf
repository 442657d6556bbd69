variable "env" {
  type        = string
  description = "Environment this cluster serves. Seeds every name: cluster gitops-<env>, secret gitops/demo-api/<env>, roles gitops-<env>-*."

  validation {
    condition     = contains(["dev", "prod"], var.env)
    error_message = "env must be \"dev\" or \"prod\"."
  }
}

variable "region" {
  type        = string
  description = "AWS region of the VPC, the cluster and the API secret. Must match the ClusterSecretStore region in k8s/."
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like an AWS region, e.g. eu-west-1."
  }
}

variable "kubernetes_version" {
  type        = string
  description = "EKS Kubernetes <major>.<minor>. Dev may run one minor ahead of prod so upgrades are rehearsed on dev first."

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must be <major>.<minor>, e.g. 1.34."
  }
}

variable "vpc_cidr" {
  type        = string
  description = "IPv4 CIDR of the environment's own VPC. Private /20s and public and intra /24s are carved from it."
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr)) && tonumber(split("/", var.vpc_cidr)[1]) == 16
    error_message = "vpc_cidr must be a valid /16; the subnet layout assumes it."
  }
}

variable "endpoint_public_access_cidrs" {
  type        = list(string)
  description = "CIDRs allowed to reach the public Kubernetes API endpoint (admin VPN or runner egress). Empty keeps the endpoint private-only. 0.0.0.0/0 is refused."
  default     = []

  validation {
    condition     = alltrue([for c in var.endpoint_public_access_cidrs : can(cidrnetmask(c))])
    error_message = "Every entry of endpoint_public_access_cidrs must be an IPv4 CIDR such as 203.0.113.0/24."
  }

  validation {
    # An API endpoint open to the internet is the expensive mistake this blocks (0.0.0.0/0, or a few wide halves of it).
    condition     = alltrue([for c in var.endpoint_public_access_cidrs : try(tonumber(split("/", c)[1]), 0) >= 16])
    error_message = "The Kubernetes API must never be open to 0.0.0.0/0: every CIDR must be /16 or narrower (admin VPN, runner egress)."
  }
}

variable "cluster_admin_role_arns" {
  type        = list(string)
  description = "People's IAM roles (an admin role, a break-glass role) that get cluster-admin access entries and administer the cluster KMS key. The CI roles gitops-<env>-terraform-plan/apply from terraform/bootstrap get theirs automatically."

  validation {
    condition     = length(var.cluster_admin_role_arns) > 0 && alltrue([for a in var.cluster_admin_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", a))])
    error_message = "cluster_admin_role_arns needs at least one IAM role ARN (arn:aws:iam::<account>:role/<name>)."
  }

  validation {
    # The CI roles get their access entries from the module; listing one again would duplicate it.
    condition     = !anytrue([for a in var.cluster_admin_role_arns : can(regex(":role/gitops-${var.env}-terraform-(plan|apply)$", a))])
    error_message = "Leave the gitops-<env>-terraform-plan/apply roles out of cluster_admin_role_arns; the module adds their access entries."
  }
}

variable "node_group" {
  type = object({
    instance_types = list(string)
    capacity_type  = optional(string, "ON_DEMAND")
    min_size       = number
    max_size       = number
    desired_size   = number
  })
  description = "The one managed node group (AL2023, IMDSv2 with hop limit 1): instance types, capacity type and ASG bounds."

  validation {
    condition     = length(var.node_group.instance_types) > 0 && contains(["ON_DEMAND", "SPOT"], var.node_group.capacity_type)
    error_message = "node_group needs at least one instance type and capacity_type ON_DEMAND or SPOT."
  }

  validation {
    # An unbounded max_size is how a runaway autoscaler becomes a bill.
    condition     = 1 <= var.node_group.min_size && var.node_group.min_size <= var.node_group.desired_size && var.node_group.desired_size <= var.node_group.max_size && var.node_group.max_size <= 10
    error_message = "node_group sizes must satisfy 1 <= min_size <= desired_size <= max_size <= 10."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the control-plane and VPC flow log groups, in days. Prod keeps at least a year."

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, ..., 365, ...)."
  }

  validation {
    condition     = var.env != "prod" || var.log_retention_days >= 365
    error_message = "prod keeps control-plane and flow logs for at least 365 days."
  }
}

variable "node_scale_down_schedule" {
  type = object({
    time_zone             = string
    scale_down_recurrence = string
    scale_up_recurrence   = string
  })
  description = "Cron recurrences (in time_zone) that scale the node group to zero after hours and back to node_group sizes in the morning. Dev only; null means always on."
  default     = null

  validation {
    condition     = var.node_scale_down_schedule == null || var.env != "prod"
    error_message = "prod never scales its nodes down on a schedule; leave node_scale_down_schedule null there."
  }

  validation {
    condition = var.node_scale_down_schedule == null || alltrue([
      for r in [try(var.node_scale_down_schedule.scale_down_recurrence, ""), try(var.node_scale_down_schedule.scale_up_recurrence, "")] :
      length(split(" ", trimspace(r))) == 5
    ])
    error_message = "Recurrences must be five-field cron expressions, e.g. \"0 19 * * MON-FRI\"."
  }
}

variable "secret_recovery_window_days" {
  type        = number
  description = "Days a deleted gitops/demo-api/<env> secret stays recoverable. 0 (force delete) is refused."
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30
    error_message = "secret_recovery_window_days must be between 7 and 30."
  }
}

variable "waf_mode" {
  type        = string
  description = "What the ALB's web ACL does with a match: \"block\" (prod) or \"count\" (dev, to see false positives before prod blocks them)."
  default     = "block"

  validation {
    condition     = contains(["block", "count"], var.waf_mode)
    error_message = "waf_mode must be \"block\" or \"count\"."
  }
}

variable "waf_rate_limit" {
  type        = number
  description = "Requests one client IP may send through the ALB in 5 minutes before the web ACL's rate rule matches."
  default     = 1000

  validation {
    condition     = var.waf_rate_limit >= 100 && var.waf_rate_limit <= 2000000000
    error_message = "waf_rate_limit must be between 100 and 2000000000."
  }
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for every resource this module creates (the roots add Project/Environment through provider default_tags)."
  default     = {}
}

variable "database" {
  type = object({
    instance_class           = string
    allocated_storage_gb     = number
    max_allocated_storage_gb = number
    backup_retention_days    = number
  })
  description = "Size and backup retention of the env's PostgreSQL (database.tf). Multi-AZ, deletion protection, final snapshot and Performance Insights follow env, not this variable."

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.database.instance_class))
    error_message = "database.instance_class must be an RDS instance class such as db.t4g.micro."
  }

  validation {
    # Storage autoscaling needs a ceiling above the start, and the ceiling bounds the bill.
    condition     = 20 <= var.database.allocated_storage_gb && var.database.allocated_storage_gb < var.database.max_allocated_storage_gb && var.database.max_allocated_storage_gb <= 1000
    error_message = "database storage must satisfy 20 <= allocated_storage_gb < max_allocated_storage_gb <= 1000."
  }

  validation {
    condition     = var.database.backup_retention_days >= 1 && var.database.backup_retention_days <= 35
    error_message = "database.backup_retention_days must be between 1 and 35 (0 would turn automated backups off)."
  }

  validation {
    condition     = var.env != "prod" || var.database.backup_retention_days >= 7
    error_message = "prod keeps automated database backups for at least 7 days."
  }
}

variable "database_engine_version" {
  type        = string
  description = "PostgreSQL major version of the env's database; the parameter family (postgres<major>) follows it. A new major also needs database_allow_major_version_upgrade (terraform/README.md, \"Major PostgreSQL upgrade\")."
  default     = "17"

  validation {
    condition     = can(regex("^[1-9][0-9]$", var.database_engine_version))
    error_message = "database_engine_version is a PostgreSQL major such as 17 (RDS picks the minor and upgrades it in the maintenance window)."
  }
}

variable "database_allow_major_version_upgrade" {
  type        = bool
  description = "Lets RDS move the instance to a new major version (database_engine_version). Set only in the reviewed PR that raises the major, and unset afterwards."
  default     = false
}

variable "database_restore" {
  type = object({
    snapshot_identifier = string
    serve               = optional(bool, false)
  })
  description = "Restore side by side (terraform/README.md, \"Restore from a snapshot\"): builds instance <name>-restore from this DB snapshot (identifier or ARN) beside the live one, which is never replaced. serve = true moves api-app to it (DATABASE_URL and the master secret follow). null: no restore instance."
  default     = null

  validation {
    condition     = var.database_restore == null ? true : length(var.database_restore.snapshot_identifier) > 0
    error_message = "database_restore.snapshot_identifier names the snapshot to restore."
  }
}

variable "addon_versions" {
  type = object({
    coredns                = string
    kube_proxy             = string
    vpc_cni                = string
    eks_pod_identity_agent = string
  })
  description = "Exact EKS add-on builds (v<version>-eksbuild.<n>), as `aws eks describe-addon-versions --kubernetes-version <minor>` lists them. Pinned so an apply never upgrades an add-on by itself; Renovate proposes new builds."

  validation {
    condition     = alltrue([for v in values(var.addon_versions) : can(regex("^v[0-9]+\\.[0-9]+\\.[0-9]+-eksbuild\\.[0-9]+$", v))])
    error_message = "Every add-on version must be an exact build such as v1.12.4-eksbuild.1."
  }

  validation {
    # kube-proxy follows the control plane's minor exactly; anything else is a wrong pin.
    condition     = startswith(var.addon_versions.kube_proxy, "v${var.kubernetes_version}.")
    error_message = "addon_versions.kube_proxy must be a build for kubernetes_version (v<kubernetes_version>.<patch>-eksbuild.<n>)."
  }
}

variable "node_ami_release_version" {
  type        = string
  description = "Exact EKS-optimized AL2023 AMI release for the node group (<kubernetes minor>.<patch>-<yyyymmdd>, e.g. from /aws/service/eks/optimized-ami/<minor>/amazon-linux-2023/x86_64/standard/recommended/release_version). Pinned: a new AMI rolls every node, so it arrives as a reviewed PR."

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+-[0-9]{8}$", var.node_ami_release_version)) && startswith(var.node_ami_release_version, "${var.kubernetes_version}.")
    error_message = "node_ami_release_version must be <kubernetes_version>.<patch>-<yyyymmdd>, for the cluster's own minor."
  }
}

variable "dns_zone_name" {
  type        = string
  description = "Public Route 53 hosted zone (e.g. example.com) that already exists in this account. The env's ALB is served as gitops-<env>.<zone>, with an ACM certificate validated by DNS in that zone."

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.dns_zone_name))
    error_message = "dns_zone_name must be a DNS zone name such as example.com (lower case, no trailing dot)."
  }
}

# What only a person has, typed into the first apply's environment (terraform/README.md): ephemeral, so
# written once into its secret through a write-only argument and never kept in plan or state. Later
# applies (CI) leave them unset, which changes nothing.

variable "dockerhub_username" {
  type        = string
  description = "Docker Hub account the clusters pull as (gitops/dockerhub/<env>). First apply only."
  default     = null
  ephemeral   = true
}

variable "dockerhub_token" {
  type        = string
  description = "A read-only Docker Hub access token of that account. First apply only (TF_VAR_dockerhub_token)."
  default     = null
  ephemeral   = true
}

variable "slack_webhook_url" {
  type        = string
  description = "Slack incoming-webhook URL Alertmanager pages to (gitops/platform-ops/<env>). First apply only (TF_VAR_slack_webhook_url)."
  default     = null
  ephemeral   = true
}

variable "heartbeat_url" {
  type        = string
  description = "Ping URL of the dead man's switch the Watchdog heartbeat goes to (gitops/platform-ops/<env>). First apply only (TF_VAR_heartbeat_url)."
  default     = null
  ephemeral   = true
}

variable "alarm_slack" {
  type = object({
    workspace_id = string
    channel_id   = string
  })
  description = "The Slack workspace (team) ID and channel ID AWS Chatbot posts the CloudWatch alarms and RDS events to (alarms.tf): the channel the alerts go to. The workspace must be authorized in the AWS Chatbot console once per account. null: the alarms reach nobody, and every plan warns."
  default     = null

  validation {
    condition     = var.alarm_slack == null ? true : can(regex("^T[A-Z0-9]+$", var.alarm_slack.workspace_id)) && can(regex("^[CG][A-Z0-9]+$", var.alarm_slack.channel_id))
    error_message = "alarm_slack takes Slack IDs: workspace_id like T0123ABCD, channel_id like C0123ABCD."
  }
}
