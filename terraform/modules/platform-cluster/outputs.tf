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
  description = "Namespace and service account bound to each controller role. The Helm add-ons install into exactly these, and only once the associations and nodes exist."
  value = {
    for k, v in local.pod_identities : k => {
      namespace       = v.namespace
      service_account = v.service_account
    }
  }

  # Built from locals, this would be known at once; the add-ons consume it, so make it wait. Pod
  # Identity injects credentials only when a pod is created, so a controller started before its
  # association runs without AWS access; and a Helm `wait` before the node group and CoreDNS exist
  # times out. module.eks covers the node group and every add-on (CoreDNS included).
  depends_on = [
    module.eks,
    module.argo_rollouts_pod_identity,
    module.aws_lbc_pod_identity,
    module.external_secrets_pod_identity,
  ]
}

output "external_secrets_role_arn" {
  description = "IAM role External Secrets Operator assumes through Pod Identity (reads this env's API secret only)."
  value       = module.external_secrets_pod_identity.iam_role_arn
}

output "argo_rollouts_role_arn" {
  description = "IAM role the Argo Rollouts controller assumes through Pod Identity (reads the ALB's target groups, for target group verification)."
  value       = module.argo_rollouts_pod_identity.iam_role_arn
}

output "aws_load_balancer_controller_role_arn" {
  description = "IAM role the AWS Load Balancer Controller assumes through Pod Identity."
  value       = module.aws_lbc_pod_identity.iam_role_arn
}

output "external_secrets_policy" {
  description = "The ESO role's main policy (JSON): GetSecretValue and DescribeSecret on this env's API, registry and ops secret ARNs. The others are deployment_records_secret_policy and external_secrets_database_policy."
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

output "registry_secret_name" {
  description = "Secrets Manager secret holding the Docker Hub pull credential {\"username\", \"token\"}; ExternalSecret registry-pull reads it."
  value       = aws_secretsmanager_secret.registry.name
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
    argo_rollouts_role    = local.pod_identities.argo_rollouts.role_name
    api_secret            = local.api_secret_name
    node_scale_actions    = [for k, _ in local.node_scale_actions : "${local.name}-nodes-${k}"]
  }
}

output "deployment_records_secret_name" {
  description = "Secrets Manager secret holding the GitHub App credentials Argo CD Notifications records GitHub Deployments with; modules/cluster-addons reads it through ESO."
  value       = aws_secretsmanager_secret.deployment_records.name
}

output "ci_runner" {
  description = "This env's just-in-time runner pools (plan, apply): the CodeBuild project each runs-on label names, its service role and security group."
  value = {
    for mode, project in local.ci_runner_projects : mode => {
      project           = aws_codebuild_project.ci_runner[mode].name
      runs_on           = "codebuild-${project}-$${{ github.run_id }}-$${{ github.run_attempt }}"
      service_role_arn  = aws_iam_role.ci_runner[mode].arn
      security_group_id = aws_security_group.ci_runner[mode].id
    }
  }
}

output "database" {
  description = "How this env's PostgreSQL is protected and reached: the values the RDS module and the security group receive."
  value = merge(local.database_protection, {
    endpoint               = local.database_serving.db_instance_address
    port                   = local.database.port
    name                   = local.database.name
    app_user               = local.database.app_user
    backup_retention_days  = var.database.backup_retention_days
    subnets_cidr           = local.database_subnets_cidr
    security_group_sources = [for r in aws_vpc_security_group_ingress_rule.database : r.referenced_security_group_id]
  })
}

output "database_url" {
  description = "api-app's DATABASE_URL in this env: the instance endpoint, verify-full TLS, no password (api-app reads it from DATABASE_PASSWORD_FILE). modules/cluster-addons hands it to the api-app Application."
  value       = local.database_url
}

output "database_endpoint" {
  description = "The RDS endpoint api-app connects to (DATABASE_URL's host, the name its TLS certificate covers)."
  value       = local.database_serving.db_instance_address
}

output "database_master_secret_arn" {
  description = "ARN of the RDS-managed master secret (RDS names it). modules/cluster-addons hands it to the api-app Application as the remote key of ExternalSecret api-app-db-admin; it is never committed."
  value       = local.database_serving.db_instance_master_user_secret_arn
}

output "external_secrets_database_policy" {
  description = "The ESO role's database policy (JSON): GetSecretValue and DescribeSecret on the app password secret and the master secret."
  value       = local.external_secrets_database_policy
}

output "set_database_password_command" {
  description = "Command that sets api_app's password out of band (reads the JSON from a local file you delete afterwards)."
  value       = "aws secretsmanager put-secret-value --region ${var.region} --secret-id ${aws_secretsmanager_secret.database_app.name} --secret-string file://db-password.json"
}

output "web_acl_arn" {
  description = "ARN of the ALB's WAF web ACL; modules/cluster-addons puts it in the IngressClassParams (wafv2AclArn) every Ingress uses."
  value       = aws_wafv2_web_acl.alb.arn
}

output "nodes_awake" {
  description = "Whether the node group has capacity now (desired > 0). False only while dev sleeps after hours (schedule.tf); the add-on releases then skip waiting for pods that cannot start."
  value       = data.aws_autoscaling_group.nodes.desired_capacity > 0
}

output "public_hostname" {
  description = "The name the env's ALB answers on (gitops-<env>.<zone>), covered by certificate_arn."
  value       = local.public_hostname
}

output "certificate_arn" {
  description = "ACM certificate of the ALB's HTTPS listener, once issued (DNS-validated). Reaches the Load Balancer Controller through IngressClassParams (modules/cluster-addons), never through Git."
  value       = aws_acm_certificate_validation.alb.certificate_arn
}

output "ci_role_arns" {
  description = "The GitHub Actions roles terraform/bootstrap creates for this env (plan, apply), by their derived names."
  value       = local.ci_role_arns
}
