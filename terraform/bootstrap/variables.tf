variable "region" {
  type        = string
  description = "Region of the state buckets; must match the region in envs/*/backend.tf."
  default     = "eu-west-1"
}

variable "noncurrent_version_retention_days" {
  type        = number
  description = "Days old state versions are kept before expiry (they are the undo button for a bad apply)."
  default     = 90

  validation {
    condition     = var.noncurrent_version_retention_days >= 30
    error_message = "Keep old state versions for at least 30 days."
  }
}

variable "github_subject_prefix" {
  type        = string
  description = "Start of the `sub` claim of this repository's GitHub OIDC tokens: repo:<owner>/<repo>, or for repositories created after 2026-07-15 (immutable claims) repo:<owner>@<owner-id>/<repo>@<repo-id>."
  default     = "repo:gitops-platform/gitops-platform"

  validation {
    condition     = can(regex("^repo:[^:*]+/[^:*]+$", var.github_subject_prefix))
    error_message = "github_subject_prefix must be repo:<owner>/<repo> (no wildcards, no trailing :)."
  }
}

variable "envs" {
  type        = list(string)
  description = "The envs whose CI roles and boundaries this account holds: both in the seed's single account, or [\"dev\"] and [\"prod\"] when each env has an account of its own (one bootstrap per account; terraform/README.md)."
  default     = ["dev", "prod"]

  validation {
    condition     = length(var.envs) > 0 && alltrue([for e in var.envs : contains(["dev", "prod"], e)])
    error_message = "envs lists dev, prod or both."
  }
}

variable "allowed_account_ids" {
  type        = list(string)
  description = "The AWS account this bootstrap may be applied in; null (the default) allows the caller's account. Set it when each env has an account of its own, so a bootstrap never lands in the wrong one."
  default     = null
}
