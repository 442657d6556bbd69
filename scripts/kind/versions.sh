#!/usr/bin/env bash
# versions.sh: the Helm charts the kind job installs, at the versions the clusters run: one line
# `RELEASE REPOSITORY CHART VERSION` per chart, read from terraform/modules/cluster-addons, where
# Renovate keeps them. Nothing here pins a version of its own, so kind and EKS never drift apart.
set -euo pipefail
cd "$(dirname "$0")/../.."
for release in argocd argo_rollouts kube_prometheus_stack; do
  awk -v want="$release" '
    $1 == "resource" && $2 == "\"helm_release\"" { inside = ($3 == "\"" want "\"") }
    inside && $1 ~ /^(name|repository|chart|version)$/ && $2 == "=" { gsub(/"/, "", $3); v[$1] = $3 }
    inside && /^}/ { inside = 0 }
    END {
      if (!v["version"]) { print "versions.sh: no helm_release " want > "/dev/stderr"; exit 1 }
      print v["name"], v["repository"], v["chart"], v["version"]
    }
  ' terraform/modules/cluster-addons/*.tf
done
