variable "env" {
  type        = string
  description = "Environment of the cluster; selects k8s/argocd/<env>, whose root.yaml and bootstrap-project.yaml Helm installs."

  validation {
    condition     = contains(["dev", "prod"], var.env)
    error_message = "env must be \"dev\" or \"prod\"."
  }
}

variable "region" {
  type        = string
  description = "AWS region, passed to the Load Balancer Controller because pods cannot reach IMDS (hop limit 1)."
}

variable "cluster_name" {
  type        = string
  description = "EKS cluster name (gitops-<env>), from modules/platform-cluster."

  validation {
    condition     = can(regex("^gitops-(dev|prod)$", var.cluster_name))
    error_message = "cluster_name must be gitops-dev or gitops-prod."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC ID, passed to the Load Balancer Controller because pods cannot reach IMDS (hop limit 1)."
}

variable "pod_identities" {
  type = object({
    argo_rollouts                = object({ namespace = string, service_account = string })
    aws_load_balancer_controller = object({ namespace = string, service_account = string })
    external_secrets             = object({ namespace = string, service_account = string })
  })
  description = "Namespace and service account of each controller with a Pod Identity association (output of modules/platform-cluster). The charts install into exactly these."
}

variable "deployment_records_secret_name" {
  type        = string
  description = "Secrets Manager secret with the GitHub App credentials ({\"appID\", \"installationID\", \"privateKey\"}) Argo CD Notifications records GitHub Deployments with (output of modules/platform-cluster)."

  validation {
    condition     = can(regex("^gitops/argocd-notifications/(dev|prod)$", var.deployment_records_secret_name))
    error_message = "deployment_records_secret_name must be gitops/argocd-notifications/<env>."
  }
}

variable "wait_for_pods" {
  type        = bool
  description = "Whether each release waits for its pods (and rolls back if they never get ready). The env roots pass module.platform.nodes_awake: false only while dev's nodes are scaled to zero after hours, when no pod can start, so an apply then installs the manifests and leaves the pods to the morning instead of timing out (and blocking prod's apply behind it)."
}

variable "certificate_arn" {
  type        = string
  description = "ACM certificate of the ALB's HTTPS listener (output of modules/platform-cluster). Set on the IngressClassParams, so no Ingress names it."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}

variable "web_acl_arn" {
  type        = string
  description = "WAF web ACL the ALB attaches (output of modules/platform-cluster). Set on the IngressClassParams, so no Ingress names it."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:[0-9]{12}:regional/webacl/.+$", var.web_acl_arn))
    error_message = "web_acl_arn must be a regional WAFv2 web ACL ARN."
  }
}

variable "database_url" {
  type        = string
  description = "api-app's DATABASE_URL (output of modules/platform-cluster): the RDS endpoint exists only after the apply, so the root Application hands it to api-app's overlay instead of a commit."

  validation {
    condition     = can(regex("^postgres://[a-z_]+@[^:/@]+:[0-9]+/[a-z_]+\\?sslmode=verify-full&sslrootcert=/.+$", var.database_url))
    error_message = "database_url must be postgres://<role>@<endpoint>:<port>/<db>?sslmode=verify-full&sslrootcert=<path>, with no password."
  }
}

variable "database_master_secret_arn" {
  type        = string
  description = "ARN of the RDS-managed master secret (output of modules/platform-cluster): RDS names it at create time, so the root Application hands it to api-app's bootstrap ExternalSecret instead of a commit."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:rds!.+$", var.database_master_secret_arn))
    error_message = "database_master_secret_arn must be the ARN of an RDS-managed secret (secret:rds!...)."
  }
}
