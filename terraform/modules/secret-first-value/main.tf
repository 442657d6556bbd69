# A secret's first value, written without Terraform ever holding it: each generated key is an ephemeral
# random password, each given key an ephemeral input (a person's token or URL, typed into the apply's
# environment), and both go through a write-only argument, so neither is in plan or state. Written once
# (version 1): rotations put new values outside Terraform, which never compares a write-only value and
# so never undoes them; a later apply without the inputs (CI) changes nothing. Its own module so
# plan-only tests can replace it whole (terraform test cannot mock ephemeral resources on the pinned
# Terraform).

ephemeral "aws_secretsmanager_random_password" "value" {
  for_each = toset(var.generated_keys)

  # Letters and digits only: safe in JSON, in env vars and in SQL literals alike.
  password_length     = var.length
  exclude_punctuation = true
  include_space       = false
}

resource "aws_secretsmanager_secret_version" "first" {
  secret_id = var.secret_id
  secret_string_wo = jsonencode(merge(
    var.given_values,
    { for k in var.generated_keys : k => ephemeral.aws_secretsmanager_random_password.value[k].random_password },
  ))
  secret_string_wo_version = 1

  lifecycle {
    # A rotation moves AWSCURRENT to its own version; that is not drift.
    ignore_changes = [version_stages]
  }
}
