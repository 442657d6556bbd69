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
