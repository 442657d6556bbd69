# A secret's first value, written without Terraform or its CI roles ever reading a secret: each
# generated key is an ephemeral random password, each given key an ephemeral input (a person's token
# or URL, typed into the apply's environment), and both reach Secrets Manager through a provisioner's
# environment, so neither is in plan or state. Not an aws_secretsmanager_secret_version: that
# resource's every refresh (and its create, to wait for the version) calls GetSecretValue, even with
# the write-only secret_string_wo (the provider's secret_version.go), so the plan role, which pull
# requests assume, would need to read the live API key and database password. Here the apply calls
# only PutSecretValue and ListSecretVersionIds (write.sh), and a plan calls nothing but
# GetRandomPassword. Written once, when the secret is new and has no version yet: rotations put new
# values outside Terraform, which never sees them; a later apply without the inputs (CI) changes
# nothing. Its own module so plan-only tests can replace it whole (terraform test cannot mock
# ephemeral resources on the pinned Terraform).

ephemeral "aws_secretsmanager_random_password" "value" {
  for_each = toset(var.generated_keys)

  # Letters and digits only: safe in JSON, in env vars and in SQL literals alike.
  password_length     = var.length
  exclude_punctuation = true
  include_space       = false
}

resource "terraform_data" "first" {
  # A new secret (a new ARN) gets its own first value; nothing else writes again.
  triggers_replace = [var.secret_id]

  provisioner "local-exec" {
    command     = "${path.module}/write.sh"
    interpreter = ["/bin/sh"]
    environment = {
      SECRET_ID  = var.secret_id
      AWS_REGION = split(":", var.secret_id)[3]
      FIRST_VALUE = jsonencode(merge(
        var.given_values,
        { for k in var.generated_keys : k => ephemeral.aws_secretsmanager_random_password.value[k].random_password },
      ))
    }
  }
}
