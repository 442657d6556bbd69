#!/usr/bin/env bash
# rollout-verdict.sh STABLE_BEFORE < rollout.json: where a release of a Rollout stands, from
# `kubectl get rollout NAME -o json` and the stable ReplicaSet hash before the release started.
# Prints one line and exits with its code:
#   promoted HASH            0   the new revision is stable: every step and analysis passed
#   aborted HASH: MESSAGE    10  the release was stopped and STABLE_BEFORE still serves
#   progressing PHASE ...    20  not decided yet (steps, analysis, or the controller has not seen it)
#   broken ...               30  neither: e.g. aborted with another stable, or Degraded for another reason
# The kind job (.github/workflows/canary-kind.yml) polls it; tests/contract/kind.rs runs it on
# recorded outputs of Argo Rollouts v1.9.
set -euo pipefail
stable_before=${1:?usage: rollout-verdict.sh STABLE_BEFORE < rollout.json}
jq -r --arg before "$stable_before" '
  (.metadata.annotations["rollout.argoproj.io/workload-generation"] // "") as $wanted
  | (.status // {}) as $s
  | ($s.stableRS // "") as $stable
  | ($s.currentPodHash // "") as $current
  # The controller has seen the newest spec and the newest template of the referenced Deployment.
  | ((($s.observedGeneration // "") == (.metadata.generation | tostring))
     and ($wanted == "" or ($s.workloadObservedGeneration // "") == $wanted)) as $seen
  | if ($seen | not) then "20 progressing the controller has not observed the newest spec yet"
    elif $s.abort == true then
      if $stable == $before then "10 aborted \($current): \($s.message // "no message")"
      else "30 broken aborted, but stable is \($stable), not \($before)" end
    elif $s.phase == "Healthy" and $current == $stable and $stable != $before then "0 promoted \($stable)"
    elif $s.phase == "Healthy" and $current == $before then "20 progressing no new revision yet (still \($before))"
    elif $s.phase == "Degraded" then "30 broken Degraded: \($s.message // "no message")"
    else "20 progressing \($s.phase // "no phase"): \($s.message // "")" end
' | {
  read -r code verdict
  echo "$verdict"
  exit "$code"
}
