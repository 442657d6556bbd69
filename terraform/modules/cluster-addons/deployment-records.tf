# Argo CD Notifications records a GitHub Deployment for every rollout: the GitHub environment is the
# Application's name (api-app-dev, ...), the ref is the commit the sync operation deployed, and each
# status says how it went: `success` when the app turned Healthy after the sync (again after a
# Degraded spell: that is the recovery), `failure` when the sync failed or the app went Degraded.
# Whether a rollout was a rollback (a rollback(<env>) or `git revert` commit, or Argo CD re-deploying
# an earlier revision from its history) is delivery-metrics' call, read from these records and
# main's commits; the records only say what happened. The GitHub App credentials come from Secrets
# Manager through External Secrets; the chart never holds them.
#
# Everything here is named deployment-record*, so other notification config (paging, chat) can sit
# beside it in the same chart values without sharing a trigger or template. The chain from these
# triggers and templates to the metrics is rendered and counted in tests/contract/delivery.rs.

locals {
  deployment_records_secret = "argocd-notifications-secret"

  # The commit the sync operation deployed: its result, or, when it failed before producing one, the
  # revision it was asked to sync. Never app.status.sync.revision: that is the branch head Argo CD
  # last compared against, which moves with every commit on main while a failed prod sync waits.
  deployment_record_revision = "{{ with .app.status.operationState.syncResult }}{{ .revision }}{{ else }}{{ .app.status.operationState.operation.sync.revision }}{{ end }}"

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
          message = "{{ .app.metadata.name }} runs {{ trunc 7 .app.status.operationState.syncResult.revision }}: {{ .app.status.health.status }} after the sync of {{ .app.status.operationState.startedAt }}"
          github = {
            revisionPath = local.deployment_record_revision
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
          message = "{{ .app.metadata.name }}: {{ if eq .app.status.operationState.phase \"Succeeded\" }}synced, then {{ .app.status.health.status }}{{ else }}sync {{ .app.status.operationState.phase }}: {{ .app.status.operationState.message }}{{ end }}"
          github = {
            revisionPath = local.deployment_record_revision
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

      # oncePer: each condition fires once per sync operation (startedAt names one) and, for the
      # health conditions, once per health transition within it (app.status.health.lastTransitionTime,
      # which Argo CD sets on every Application since 3.0.x, whatever controller.resource.health.persist says). A rollback through Argo CD's
      # history to an earlier revision is a new operation, so it is recorded (a key per revision
      # would stay sent forever: the engine never forgets one), and a Degraded app that turns
      # Healthy again is recorded too: that success is the recovery.
      triggers = {
        "trigger.on-deployment-record" = yamlencode([
          {
            description = "Healthy after the sync: the environment runs this commit. The health must have changed at or after the sync finished (a Healthy from before the new pods is stale, as Argo CD's catalog on-deployed guards), or, for an app whose resources have no rollout (rules, dashboards), stayed unchanged since before the sync for 2 minutes."
            when        = <<-EOT
              app.status.operationState != nil and app.status.operationState.phase in ['Succeeded'] and app.status.health.status == 'Healthy' and (
                !time.Parse(app.status.health.lastTransitionTime).Before(time.Parse(app.status.operationState.finishedAt)) or (
                  time.Parse(app.status.health.lastTransitionTime).Before(time.Parse(app.status.operationState.startedAt)) and
                  time.Now().Sub(time.Parse(app.status.operationState.finishedAt)).Minutes() >= 2))
            EOT
            oncePer     = "app.status.operationState.startedAt + ' ' + app.status.health.lastTransitionTime"
            send        = ["deployment-record-success"]
          },
          {
            description = "The sync failed or errored: the commit it tried did not go out."
            when        = "app.status.operationState != nil and app.status.operationState.phase in ['Error', 'Failed']"
            oncePer     = "app.status.operationState.startedAt"
            send        = ["deployment-record-failure"]
          },
          {
            description = "The sync finished but the app went Degraded after it started (an aborted canary, a crash-looping rollout): a bad deploy. A Degraded from before the sync is the previous commit's."
            when        = "app.status.operationState != nil and app.status.operationState.phase in ['Succeeded'] and app.status.health.status == 'Degraded' and !time.Parse(app.status.health.lastTransitionTime).Before(time.Parse(app.status.operationState.startedAt))"
            oncePer     = "app.status.operationState.startedAt + ' ' + app.status.health.lastTransitionTime"
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
