#!/usr/bin/env bash
# up.sh REPO_URL REVISION IMAGE...: a kind cluster that releases like the EKS clusters do: the images
# loaded, then kube-prometheus-stack, Argo Rollouts and Argo CD at the chart versions Terraform pins
# (scripts/kind/versions.sh), and an Argo CD Application syncing k8s/overlays/local from REPO_URL at
# REVISION (the pull request's commit). Returns once both apps' Rollouts are Healthy.
# Needs docker, kind, kubectl and helm. The kind job (.github/workflows/canary-kind.yml) runs it;
# it works on a laptop too (k8s/README.md, "Local cluster").
set -euo pipefail
cd "$(dirname "$0")/../.."
repo_url=${1:?usage: up.sh REPO_URL REVISION IMAGE...} revision=${2:?usage: up.sh REPO_URL REVISION IMAGE...}
shift 2
cluster=${KIND_CLUSTER:-gitops-canary}

kind create cluster --name "$cluster" --wait 120s
kind load docker-image --name "$cluster" "$@"

# Read first: a failure of versions.sh inside `< <(...)` would go unnoticed and leave charts out.
charts=$(scripts/kind/versions.sh)
while read -r name repository chart version; do
  case $name in
    kube-prometheus-stack)
      # Only Prometheus and the operator: the canary analysis reads it; nobody is paged from CI.
      set -- --set alertmanager.enabled=false --set grafana.enabled=false \
        --set nodeExporter.enabled=false --set kubeStateMetrics.enabled=false \
        --set prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues=false \
        --set prometheus.prometheusSpec.ruleSelectorNilUsesHelmValues=false \
        --set prometheus.prometheusSpec.scrapeInterval=5s \
        --set prometheus.prometheusSpec.evaluationInterval=5s
      namespace=monitoring ;;
    argo-rollouts) set -- --set dashboard.enabled=false; namespace=argo-rollouts ;;
    argocd) set -- --set dex.enabled=false --set notifications.enabled=false; namespace=argocd ;;
    *) echo "up.sh: no settings for chart $name" >&2; exit 1 ;;
  esac
  echo "up.sh: $chart $version into $namespace"
  helm upgrade --install "$name" "$chart" --repo "$repository" --version "$version" \
    --namespace "$namespace" --create-namespace --wait --timeout 10m "$@"
done <<<"$charts"

kubectl apply -f - <<YAML
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: local
  namespace: argocd
spec:
  project: default
  source:
    repoURL: ${repo_url}
    targetRevision: ${revision}
    path: k8s/overlays/local
  destination:
    server: https://kubernetes.default.svc
  syncPolicy:
    automated:
      prune: true
      selfHeal: true
    syncOptions:
      - ServerSideApply=true
YAML

for app in api-app demo-app; do
  kubectl wait --for=create --timeout=5m "rollout/$app" -n "$app-local"
  kubectl wait --for=jsonpath='{.status.phase}'=Healthy --timeout=10m "rollout/$app" -n "$app-local"
done
echo "up.sh: both Rollouts are Healthy"
