#!/usr/bin/env bash
# Renders every kustomization Argo CD (or a local cluster) would apply, then checks the output offline:
# kubernetes-validate --strict for core objects (against the Kubernetes version each cluster runs, read
# from terraform/envs/<env>/main.tf), the pinned CRD schemas for Argo CD and ESO objects, checkov's
# Kubernetes policies (skips carry reasons in the manifests), and yamllint on the sources.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/venv/bin:$PATH"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail() { printf 'check-k8s: %s\n' "$*" >&2; exit 1; }

# The minor each cluster runs, from the terraform env roots (dev may be one minor ahead of prod).
cluster_version() {
  local v
  v=$(sed -n 's/^[[:space:]]*kubernetes_version[[:space:]]*=[[:space:]]*"\([0-9]*\.[0-9]*\)".*/\1/p' "terraform/envs/$1/main.tf" 2>/dev/null | head -n1)
  [[ -n $v ]] || fail "no kubernetes_version in terraform/envs/$1/main.tf"
  echo "$v.0"
}
declare -A version=([dev]=$(cluster_version dev) [prod]=$(cluster_version prod))
# kind/k3d track upstream; the newest cluster version is the closest match.
version[local]=$(printf '%s\n' "${version[dev]}" "${version[prod]}" | sort -V | tail -n1)

# 1. Render. Each env folder of overlays/ holds one kustomization per app; local/ is one kustomization.
targets=()
for env in dev prod; do
  for dir in k8s/overlays/"$env"/*/; do targets+=("${dir%/}:$env"); done
  targets+=("k8s/argocd/$env:$env")
done
targets+=("k8s/overlays/local:local")
for target in "${targets[@]}"; do
  dir=${target%%:*}
  [[ -f $dir/kustomization.yaml ]] || fail "$dir has no kustomization.yaml"
  mkdir -p "$out/${target##*:}"
  kubectl kustomize "$dir" >"$out/${target##*:}/$(echo "${dir#k8s/}" | tr / _).yaml" || fail "kubectl kustomize $dir failed"
done

# 2. Core objects, strictly (unknown fields are errors). A missing schema is only acceptable for the
#    custom resources step 3 validates; anything else (a wrong apiVersion, say) fails.
crd_kinds='(Application|AppProject) with api version argoproj\.io/v1alpha1|(ExternalSecret|ClusterSecretStore) with api version external-secrets\.io/v1|(PrometheusRule|ServiceMonitor) with api version monitoring\.coreos\.com/v1|AlertmanagerConfig with api version monitoring\.coreos\.com/v1alpha1|ClusterImagePolicy with api version policy\.sigstore\.dev/v1beta1'
for env in dev prod local; do
  if ! report=$(kubernetes-validate --strict --quiet -k "${version[$env]}" "$out/$env"/*.yaml 2>&1); then
    printf '%s\n' "$report" >&2
    fail "kubernetes-validate found errors ($env, Kubernetes ${version[$env]})"
  fi
  if unexpected=$(printf '%s\n' "$report" | grep -v '^$' | grep -Ev "Couldn't find schema for kind ($crd_kinds) for"); then
    printf '%s\n' "$unexpected" >&2
    fail "kubernetes-validate could not check some objects ($env)"
  fi
done

# 3. Custom resources against the CRD schemas (strict about unknown fields, see the script).
node tools/validate-crds.mjs "$out"/*/*.yaml || fail "CRD schema validation failed"

# 4. checkov's Kubernetes policies on what is actually applied; zero failures allowed.
if ! report=$(checkov --directory "$out" --framework kubernetes --quiet --compact --skip-download 2>&1); then
  printf '%s\n' "$report" >&2
  fail "checkov reported failed checks"
fi

# 5. yamllint on the sources (rules in .yamllint.yaml).
yamllint --strict k8s/ || fail "yamllint found problems in k8s/"

echo "check-k8s: ${#targets[@]} kustomizations render and validate (Kubernetes dev ${version[dev]}, prod ${version[prod]})"
