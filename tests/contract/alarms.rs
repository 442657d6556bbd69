//! What pages from outside the cluster (terraform/modules/platform-cluster/alarms.tf): `CloudWatch`
//! alarms on the ALB and the database and RDS's own events reach one encrypted SNS topic, which AWS
//! Chatbot posts to the alerts' Slack channel, for whichever instance serves.

use std::collections::BTreeSet;

use hcl::Block;
use integration_tests::facts::ENVS;
use integration_tests::read_text;

use integration_tests::terraform::{
    EnvRoot, PLATFORM, attr_text, block, blocks_in, hcl_to_json, local_expr, platform_locals,
};

const TOPIC: &str = "[aws_sns_topic.alarms.arn]";

fn alarms(platform: &[Block]) -> Vec<&Block> {
    platform
        .iter()
        .filter(|b| {
            b.identifier() == "resource" && b.labels()[0].as_str() == "aws_cloudwatch_metric_alarm"
        })
        .collect()
}

#[test]
fn every_alarm_and_database_event_reaches_the_alarms_topic() {
    let platform = blocks_in(PLATFORM);
    let alarms = alarms(&platform);
    let names: BTreeSet<&str> = alarms.iter().map(|b| b.labels()[1].as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["alb_5xx", "alb_unhealthy_hosts", "database"]),
        "the ALB's and the database's alarms"
    );
    for a in &alarms {
        let name = a.labels()[1].as_str();
        let body = a.body();
        assert_eq!(
            attr_text(body, "alarm_actions"),
            TOPIC,
            "{name} alarms to the topic"
        );
        assert_eq!(
            attr_text(body, "ok_actions"),
            TOPIC,
            "{name} says when it is over"
        );
        // Dev's database and nodes sleep at night: no data is not an alarm.
        assert_eq!(
            attr_text(body, "treat_missing_data"),
            "\"notBreaching\"",
            "{name}"
        );
        assert!(
            attr_text(body, "alarm_name").starts_with("\"${local.name}-"),
            "{name}: named under the env, which the apply role's alarm:gitops-<env>-* covers"
        );
        let description = attr_text(body, "alarm_description");
        let anchor = description
            .split("docs/runbooks.md#")
            .nth(1)
            .unwrap_or_else(|| panic!("{name} links its runbook"))
            .trim_end_matches('"');
        assert!(
            read_text("docs/runbooks.md").lines().any(|l| l
                .strip_prefix("## ")
                .is_some_and(|h| h.to_lowercase().replace(' ', "-") == anchor)),
            "{name}: docs/runbooks.md has no heading for #{anchor}"
        );
    }
}

/// The database alarms watch the instance api-app uses (the restore, once served); the ALB's watch
/// what a total outage produces.
#[test]
fn the_alarms_watch_the_serving_database_and_the_albs_own_answers() {
    let platform = blocks_in(PLATFORM);
    let db = block(
        &platform,
        "resource",
        &["aws_cloudwatch_metric_alarm", "database"],
    )
    .body();
    assert_eq!(
        attr_text(db, "dimensions"),
        "{DBInstanceIdentifier=local.database_serving.db_instance_identifier}"
    );
    let metrics = local_expr(&platform, "database_alarms").to_string();
    for metric in [
        "FreeStorageSpace",
        "CPUUtilization",
        "FreeableMemory",
        "DatabaseConnections",
        "CPUCreditBalance",
    ] {
        assert!(
            metrics.contains(&format!("\"{metric}\"")),
            "a database alarm on {metric}"
        );
    }
    assert!(
        metrics
            .split_whitespace()
            .collect::<String>()
            .contains("0.1*var.database.max_allocated_storage_gb*1073741824"),
        "storage alarms near max_allocated_storage, the autoscaling ceiling"
    );
    // The ALB's own 5xx (what a total outage produces) and unhealthy targets, on the controller's ALB.
    let elb = block(
        &platform,
        "resource",
        &["aws_cloudwatch_metric_alarm", "alb_5xx"],
    )
    .body();
    assert_eq!(attr_text(elb, "metric_name"), "\"HTTPCode_ELB_5XX_Count\"");
    assert_eq!(attr_text(elb, "for_each"), "data.aws_lb.ingress_group");
    assert_eq!(
        attr_text(elb, "dimensions"),
        "{LoadBalancer=each.value.arn_suffix}"
    );
    let hosts = block(
        &platform,
        "resource",
        &["aws_cloudwatch_metric_alarm", "alb_unhealthy_hosts"],
    )
    .body();
    let query = hosts
        .blocks()
        .find(|b| b.identifier() == "metric_query")
        .expect("a Metrics Insights query");
    let expr = attr_text(query.body(), "expression");
    assert!(
        expr.contains("MAX(UnHealthyHostCount)") && expr.contains("${each.value.arn_suffix}"),
        "{expr}"
    );
}

/// RDS's own events (failover and storage-full among them, for the live and the restore instance)
/// reach the same topic, which is encrypted with a key only the two publishing services may use.
#[test]
fn database_events_reach_the_encrypted_alarms_topic() {
    let platform = blocks_in(PLATFORM);
    let events = block(
        &platform,
        "resource",
        &["aws_db_event_subscription", "database"],
    )
    .body();
    assert_eq!(attr_text(events, "sns_topic"), "aws_sns_topic.alarms.arn");
    let categories = attr_text(events, "event_categories");
    for needed in ["failover", "failure", "low storage"] {
        assert!(
            categories.contains(&format!("\"{}\"", needed.replace(' ', ""))),
            "RDS events include {needed}"
        );
    }
    assert_eq!(
        attr_text(events, "source_ids"),
        "concat([module.db.db_instance_identifier],module.db_restore[*].db_instance_identifier)"
    );

    // The topic is encrypted with its own key, which the two publishing services may use.
    let topic = block(&platform, "resource", &["aws_sns_topic", "alarms"]).body();
    assert_eq!(
        attr_text(topic, "kms_master_key_id"),
        "aws_kms_key.alarms.arn"
    );
    let key = hcl::to_string(block(
        &platform,
        "data",
        &["aws_iam_policy_document", "alarms_key"],
    ))
    .unwrap();
    for service in ["cloudwatch.amazonaws.com", "events.rds.amazonaws.com"] {
        assert!(
            key.contains(service),
            "the alarms key lets {service} publish"
        );
    }
}

/// The topic reaches a person: AWS Chatbot posts it to the Slack channel each env root is given,
/// and CI hands the same channel to every plan and apply.
#[test]
fn the_alarms_topic_posts_to_the_alerts_slack_channel() {
    let platform = blocks_in(PLATFORM);
    let chat = block(
        &platform,
        "resource",
        &["aws_chatbot_slack_channel_configuration", "alarms"],
    )
    .body();
    assert_eq!(attr_text(chat, "sns_topic_arns"), TOPIC);
    assert_eq!(
        attr_text(chat, "slack_channel_id"),
        "var.alarm_slack.channel_id"
    );
    assert_eq!(attr_text(chat, "user_authorization_required"), "true");
    assert!(
        platform.iter().any(|b| b.identifier() == "check"
            && hcl::to_string(b)
                .unwrap()
                .split_whitespace()
                .collect::<String>()
                .contains("var.alarm_slack!=null")),
        "a plan without a channel says the alarms reach nobody"
    );
    for env in ENVS {
        assert_eq!(
            attr_text(EnvRoot::load(env).module("platform"), "alarm_slack"),
            "var.alarm_slack",
            "{env} passes its channel"
        );
    }
    for wf in ["terraform-env.yml", "terraform-drift.yml"] {
        assert!(
            read_text(&format!(".github/workflows/{wf}")).contains("TF_VAR_alarm_slack:"),
            "{wf} hands the channel to Terraform"
        );
    }
}

/// The memory and connection alarms are sized from the instance class; every env's class is known.
#[test]
fn every_envs_database_class_has_its_memory_for_the_alarms() {
    for env in ENVS {
        let memory = hcl_to_json(&platform_locals(env)["database_memory_gib"]);
        let class =
            hcl_to_json(&EnvRoot::load(env).module_arg("platform", "database"))["instance_class"]
                .as_str()
                .unwrap()
                .to_owned();
        assert!(
            memory[&class].as_u64().is_some_and(|g| g > 0),
            "{env}: {class} is missing from local.database_memory_gib (alarms.tf)"
        );
    }
}
