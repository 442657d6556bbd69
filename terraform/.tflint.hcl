# TFLint for every root and module under terraform/ (CI: tflint --chdir=terraform --recursive --config=...).
# deep_check stays off: it needs AWS credentials, and pull requests run without them.

config {
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "recommended"
}

plugin "aws" {
  enabled = true
  version = "0.48.0"
  source  = "github.com/terraform-linters/tflint-ruleset-aws"
}

# Our own conventions on top of the recommended preset (STYLE.md: typed, described, pinned).
rule "terraform_typed_variables" {
  enabled = true
}

rule "terraform_documented_variables" {
  enabled = true
}

rule "terraform_documented_outputs" {
  enabled = true
}

rule "terraform_naming_convention" {
  enabled = true
}

rule "terraform_standard_module_structure" {
  enabled = true
}
