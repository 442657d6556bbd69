# Argo CD Notifications records a GitHub Deployment for every sync: the GitHub environment is the
# Application's name (api-app-dev, ...), the ref is the synced commit, and the status says how it
# ended: success, failure (sync failed, or synced but Degraded), and "Rollback: ..." when the
# commit is a `git revert` or Argo CD re-deployed an earlier revision from its history. These
# records are what the delivery-metrics workflow counts. The GitHub App credentials come from
# Secrets Manager through External Secrets; the chart never holds them.
#
# Everything here is named deployment-record*, so other notification config (paging, chat) can sit
# beside it in the same chart values without sharing a trigger or template.

locals {
  deployment_records_secret = "argocd-notifications-secret"

  # The commit Argo CD just deployed, and whether that is a rollback. Go templates, rendered by the
  # notifications controller; the marker prefix is delivery-metrics' ROLLBACK_PREFIX (tests/contract).
  deployment_record_message = <<-EOT
    {{- $rev := .app.status.operationState.syncResult.revision -}}
    {{- $history := .app.status.history -}}
    {{- $earlier := false -}}
    {{- range $i, $entry := $history -}}
    {{- if and (lt (add $i 2) (len $history)) (eq $entry.revision $rev) -}}{{- $earlier = true -}}{{- end -}}
    {{- end -}}
    {{- $subject := (call .repo.GetCommitMetadata $rev).Message -}}
    {{- if or $earlier (hasPrefix "Revert \"" $subject) -}}
    Rollback: {{ .app.metadata.name }} runs {{ trunc 7 $rev }} again ({{ .app.status.health.status }})
    {{- else -}}
    {{ .app.metadata.name }} runs {{ trunc 7 $rev }} ({{ .app.status.health.status }})
    {{- end -}}
  EOT

  deployment_records_values = {
    notifications = {
      enabled = true
      # External Secrets writes this Secret (extraObjects below); the chart must not own it.
      secret = { create = false, name = local.deployment_records_secret }

      notifiers = {
        # `$key` is replaced with that key of argocd-notifications-secret when the config loads.
        "service.github" = yamlencode({
          appID          = "$github-appID"
          installationID = "$github-installationID"
          privateKey     = "$github-privateKey"
        })
      }

      templates = {
        "template.deployment-record-success" = yamlencode({
          message = local.deployment_record_message
          github = {
            revisionPath = "{{.app.status.operationState.syncResult.revision}}"
            deployment = {
              state       = "success"
              environment = "{{.app.metadata.name}}"
              # Records what happened; it gates nothing, and may name an older commit (rollback).
              requiredContexts     = []
              autoMerge            = false
              transientEnvironment = false
            }
          }
        })
        "template.deployment-record-failure" = yamlencode({
          message = "{{.app.metadata.name}}: {{ if eq .app.status.operationState.phase \"Succeeded\" }}synced but {{ .app.status.health.status }}{{ else }}sync {{ .app.status.operationState.phase }}: {{ .app.status.operationState.message }}{{ end }}"
          github = {
            # A failed sync may have no syncResult; sync.revision is the commit it tried.
            revisionPath = "{{.app.status.sync.revision}}"
            deployment = {
              state                = "failure"
              environment          = "{{.app.metadata.name}}"
              requiredContexts     = []
              autoMerge            = false
              transientEnvironment = false
            }
          }
        })
      }

      triggers = {
        "trigger.on-deployment-record" = yamlencode([
          {
            description = "The sync finished and the app is Healthy: the environment runs this commit."
            when        = "app.status.operationState != nil and app.status.operationState.phase in ['Succeeded'] and app.status.health.status == 'Healthy'"
            oncePer     = "app.status.operationState?.syncResult?.revision"
            send        = ["deployment-record-success"]
          },
          {
            description = "The sync failed or errored."
            when        = "app.status.operationState != nil and app.status.operationState.phase in ['Error', 'Failed']"
            oncePer     = "app.status.sync.revision"
            send        = ["deployment-record-failure"]
          },
          {
            description = "The sync finished but the new version went Degraded: a bad deploy."
            when        = "app.status.operationState != nil and app.status.operationState.phase in ['Succeeded'] and app.status.health.status == 'Degraded'"
            oncePer     = "app.status.operationState?.syncResult?.revision"
            send        = ["deployment-record-failure"]
          },
        ])
      }

      # Every Application, with no annotation to forget: the GitHub service needs no recipient.
      subscriptions = [
        { recipients = ["github"], triggers = ["on-deployment-record"] },
      ]
    }

    extraObjects = [
      {
        apiVersion = "external-secrets.io/v1"
        kind       = "SecretStore"
        metadata   = { name = "deployment-records", namespace = local.argocd_namespace }
        # No auth block: ESO's own Pod Identity role, which may read only its env's secrets.
        spec = { provider = { aws = { service = "SecretsManager", region = var.region } } }
      },
      {
        apiVersion = "external-secrets.io/v1"
        kind       = "ExternalSecret"
        metadata   = { name = local.deployment_records_secret, namespace = local.argocd_namespace }
        spec = {
          refreshInterval = "1h"
          secretStoreRef  = { kind = "SecretStore", name = "deployment-records" }
          target          = { name = local.deployment_records_secret, creationPolicy = "Owner", deletionPolicy = "Retain" }
          data = [
            for key in ["appID", "installationID", "privateKey"] : {
              secretKey = "github-${key}"
              remoteRef = {
                key                = var.deployment_records_secret_name
                property           = key
                conversionStrategy = "Default"
                decodingStrategy   = "None"
                metadataPolicy     = "None"
              }
            }
          ]
        }
      },
    ]
  }
}
