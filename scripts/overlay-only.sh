#!/usr/bin/env bash
# Prints true when the change BASE...HEAD edits nothing but the image pins (`images:`) of
# k8s/overlays/{dev,prod}/<app>/kustomization.yaml, as the release bump, the promotion and a rollback
# do; otherwise false. ci.yml then runs the bundle checks (render, validate, contract tests) instead
# of the whole suite: an image pin cannot change code, and the image itself was tested before release.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

base=${1:?usage: scripts/overlay-only.sh BASE HEAD}
head=${2:?usage: scripts/overlay-only.sh BASE HEAD}
verdict() { echo "$1"; exit 0; }

mapfile -t changed < <(git diff --name-only "$base...$head")
((${#changed[@]})) || verdict false
for file in "${changed[@]}"; do
  [[ $file =~ ^k8s/overlays/(dev|prod)/[a-z0-9-]+/kustomization\.yaml$ ]] || verdict false
  only_images_differ "$(git merge-base "$base" "$head")" "$head" "$file" || verdict false
done
verdict true
