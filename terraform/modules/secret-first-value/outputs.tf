output "version_id" {
  description = "The version ID of the first value (the value itself is never an output)."
  value       = aws_secretsmanager_secret_version.first.version_id
}
