output "cluster_name" {
  description = "EKS cluster name (gitops-<env>)."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "Kubernetes API server endpoint."
  value       = module.eks.cluster_endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64 CA bundle of the API server, for the Helm provider in the env root."
  value       = module.eks.cluster_certificate_authority_data
}

output "region" {
  description = "Region the cluster runs in."
  value       = var.region
}

output "vpc_id" {
  description = "VPC ID; the Load Balancer Controller needs it because pods cannot reach IMDS."
  value       = module.vpc.vpc_id
}

output "kubeconfig_command" {
  description = "Command that writes a kubeconfig entry for this cluster (the caller must be in cluster_admin_role_arns)."
  value       = "aws eks update-kubeconfig --region ${var.region} --name ${module.eks.cluster_name}"
}

output "pod_identities" {
  description = "Namespace and service account bound to each controller role. The Helm add-ons install into exactly these."
  value = {
    for k, v in local.pod_identities : k => {
      namespace       = v.namespace
      service_account = v.service_account
    }
  }
}

output "external_secrets_role_arn" {
  description = "IAM role External Secrets Operator assumes through Pod Identity (reads this env's API secret only)."
  value       = module.external_secrets_pod_identity.iam_role_arn
}

output "aws_load_balancer_controller_role_arn" {
  description = "IAM role the AWS Load Balancer Controller assumes through Pod Identity."
  value       = module.aws_lbc_pod_identity.iam_role_arn
}

output "external_secrets_policy" {
  description = "The ESO role's only permissions policy (JSON): GetSecretValue and DescribeSecret on one secret ARN."
  value       = local.external_secrets_policy
}

output "api_secret_name" {
  description = "Secrets Manager secret holding {\"API_KEY\", \"API_KEY_PREVIOUS\"}; ExternalSecret api-app-secrets reads it."
  value       = aws_secretsmanager_secret.api.name
}

output "api_secret_arn" {
  description = "ARN of the API key secret."
  value       = aws_secretsmanager_secret.api.arn
}

output "set_api_secret_command" {
  description = "Command that sets the secret's value out of band (reads the JSON from a local file you delete afterwards)."
  value       = "aws secretsmanager put-secret-value --region ${var.region} --secret-id ${aws_secretsmanager_secret.api.name} --secret-string file://api-keys.json"
}

output "resource_names" {
  description = "Names derived from the gitops-<env> seed, so humans and tests can check them in one place."
  value = {
    cluster               = local.name
    node_group            = "${local.name}-default"
    external_secrets_role = local.pod_identities.external_secrets.role_name
    aws_lbc_role          = local.pod_identities.aws_load_balancer_controller.role_name
    api_secret            = local.api_secret_name
    node_scale_actions    = [for k, _ in local.node_scale_actions : "${local.name}-nodes-${k}"]
  }
}

output "web_acl_arn" {
  description = "ARN of the ALB's WAF web ACL, for the alb.ingress.kubernetes.io/wafv2-acl-arn annotation in k8s/overlays/<env>/api-app."
  value       = aws_wafv2_web_acl.alb.arn
}
