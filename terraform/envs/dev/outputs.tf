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

output "web_acl_arn" {
  description = "The ALB's WAF web ACL: copy it into alb.ingress.kubernetes.io/wafv2-acl-arn in k8s/overlays/<env>/api-app."
  value       = module.platform.web_acl_arn
}
