output "cluster_name" {
  description = "EKS cluster name."
  value       = module.platform.cluster_name
}

output "cluster_endpoint" {
  description = "Kubernetes API server endpoint."
  value       = module.platform.cluster_endpoint
}

output "kubeconfig_command" {
  description = "Run this to point kubectl at the cluster."
  value       = module.platform.kubeconfig_command
}

output "external_secrets_role_arn" {
  description = "Pod Identity role of External Secrets Operator (reads this env's API secret only)."
  value       = module.platform.external_secrets_role_arn
}

output "aws_load_balancer_controller_role_arn" {
  description = "Pod Identity role of the AWS Load Balancer Controller."
  value       = module.platform.aws_load_balancer_controller_role_arn
}

output "api_secret_name" {
  description = "Secrets Manager secret whose value you set out of band (see set_api_secret_command)."
  value       = module.platform.api_secret_name
}

output "registry_secret_name" {
  description = "Secrets Manager secret for the Docker Hub pull credential, set out of band (terraform/README.md)."
  value       = module.platform.registry_secret_name
}

output "set_api_secret_command" {
  description = "Sets the API keys without passing them through Terraform."
  value       = module.platform.set_api_secret_command
}

output "alb_controller_status_hint" {
  description = "How to check the AWS Load Balancer Controller and find the ALB address."
  value       = module.addons.alb_controller_status_hint
}

output "argocd_root_app" {
  description = "Root Application that hands this cluster to Git."
  value       = module.addons.argocd_root_app
}

output "argocd_admin_password_command" {
  description = "Prints Argo CD's initial admin password."
  value       = module.addons.argocd_admin_password_command
}

output "ci_runner" {
  description = "This env's just-in-time Terraform runner pools (plan, apply): CodeBuild project, runs-on label, service role, security group."
  value       = module.platform.ci_runner
}

output "database_url" {
  description = "DATABASE_URL of api-app in this env (no password, verify-full TLS to the instance's endpoint); the root Application hands it to api-app."
  value       = module.platform.database_url
}

output "database_master_secret_arn" {
  description = "The RDS-managed master secret; the root Application hands it to api-app's bootstrap ExternalSecret (nothing to commit)."
  value       = module.platform.database_master_secret_arn
}

output "set_database_password_command" {
  description = "Sets api_app's password without passing it through Terraform."
  value       = module.platform.set_database_password_command
}

output "web_acl_arn" {
  description = "The ALB's WAF web ACL, attached through the Load Balancer Controller's IngressClassParams (nothing to commit)."
  value       = module.platform.web_acl_arn
}

output "public_hostname" {
  description = "The name the env's ALB answers on (gitops-<env>.<zone>), with the ACM certificate Terraform issued."
  value       = module.platform.public_hostname
}

output "github_variables" {
  description = "The repository variables terraform.yml reads for dev; terraform/README.md sets them all with one command."
  value = {
    AWS_PLAN_ROLE_ARN_DEV            = module.platform.ci_role_arns.plan
    AWS_APPLY_ROLE_ARN_DEV           = module.platform.ci_role_arns.apply
    CLUSTER_ADMIN_ROLE_ARNS_DEV      = jsonencode(var.cluster_admin_role_arns)
    ENDPOINT_PUBLIC_ACCESS_CIDRS_DEV = jsonencode(var.endpoint_public_access_cidrs)
    DNS_ZONE_NAME                    = var.dns_zone_name
    ALARM_SLACK_DEV                  = var.alarm_slack == null ? "null" : jsonencode(var.alarm_slack)
  }
}
