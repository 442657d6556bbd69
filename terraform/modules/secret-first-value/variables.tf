variable "secret_id" {
  type        = string
  description = "ARN of the Secrets Manager secret whose first value this writes (its region is where write.sh calls)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:", var.secret_id))
    error_message = "secret_id must be the secret's ARN (aws_secretsmanager_secret.<name>.id)."
  }
}

variable "generated_keys" {
  type        = list(string)
  description = "JSON keys whose values are generated here (an API key, a password, a webhook secret)."
  default     = []
}

variable "given_values" {
  type        = map(string)
  description = "JSON keys whose values a person gives (a token, a URL) or that start empty. Ephemeral: never in plan or state."
  default     = {}
  ephemeral   = true
}

variable "length" {
  type        = number
  description = "Length of each generated value: letters and digits, about 5.95 bits each."
  default     = 48

  validation {
    condition     = var.length >= 32 && var.length <= 4096
    error_message = "Generated values are 32 to 4096 characters (api-app refuses generated keys under 32)."
  }
}
