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
