output "alb_controller_status_hint" {
  description = "Commands that show whether the AWS Load Balancer Controller is running and which ALB it built for the gitops-platform IngressGroup."
  value       = "kubectl -n ${helm_release.aws_load_balancer_controller.namespace} rollout status deployment/aws-load-balancer-controller && kubectl get ingress -A -o wide  # ADDRESS column = ALB DNS name; on errors: kubectl -n ${helm_release.aws_load_balancer_controller.namespace} logs deployment/aws-load-balancer-controller"
}

output "argocd_root_app" {
  description = "Root Application that hands the cluster to Git, and the repo path it syncs."
  value       = "${local.root_app.metadata.name} -> ${local.root_app.spec.source.repoURL} ${local.root_app.spec.source.path}@${local.root_app.spec.source.targetRevision}"
}

output "argocd_admin_password_command" {
  description = "Command that prints Argo CD's initial admin password (rotate it, then delete the secret)."
  value       = "kubectl -n ${local.argocd_namespace} get secret argocd-initial-admin-secret -o jsonpath='{.data.password}' | base64 -d"
}

output "chart_versions" {
  description = "Pinned chart version of every add-on release."
  value = {
    aws_load_balancer_controller = helm_release.aws_load_balancer_controller.version
    external_secrets             = helm_release.external_secrets.version
    reloader                     = helm_release.reloader.version
    argo_cd                      = helm_release.argocd.version
    argocd_apps                  = helm_release.argocd_root_app.version
    kube_prometheus_stack        = helm_release.kube_prometheus_stack.version
  }
}
