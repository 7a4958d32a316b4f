//! The interview's share of the shared ALB: a target group and a host-header listener rule.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, HostHeaderConditionConfig, Matcher, ProtocolEnum, Rule, RuleCondition,
    Tag, TargetDescription, TargetGroup, TargetTypeEnum,
};
use rand::Rng;

use super::errors;
use crate::provision::ProvisionError;

/// How often a listener rule is tried at a freshly read priority before giving up: each
/// `PriorityInUse` means another replica took the priority between our read and our write.
const RULE_ATTEMPTS: u32 = 20;

/// The tags of one resource, by ARN.
pub(super) type Tags = BTreeMap<String, String>;

/// The target group called `name`, if it exists.
pub(super) async fn find_target_group(
    elb: &Client,
    name: &str,
) -> Result<Option<TargetGroup>, ProvisionError> {
    match elb.describe_target_groups().names(name).send().await {
        Ok(out) => Ok(out.target_groups().first().cloned()),
        Err(err) if errors::is(&err, &["TargetGroupNotFound"]) => Ok(None),
        Err(err) => Err(errors::aws(format!("describe target group {name}"), err)),
    }
}

/// What a new target group looks like.
pub(super) struct TargetGroupSpec<'a> {
    pub(super) name: &'a str,
    pub(super) vpc_id: &'a str,
    pub(super) port: u16,
    pub(super) tags: Vec<(String, String)>,
}

/// Creates the target group, which the caller just looked for and did not find. On AWS a
/// CreateTargetGroup with the same name and settings returns the existing group; moto answers
/// `DuplicateTargetGroupName` instead, so after such a lost race the group is looked up again.
pub(super) async fn create_target_group(
    elb: &Client,
    spec: &TargetGroupSpec<'_>,
) -> Result<(TargetGroup, bool), ProvisionError> {
    let tags = spec
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let created = elb
        .create_target_group()
        .name(spec.name)
        .protocol(ProtocolEnum::Http)
        .port(i32::from(spec.port))
        .vpc_id(spec.vpc_id)
        .target_type(TargetTypeEnum::Ip)
        .health_check_path("/healthz")
        .health_check_interval_seconds(5)
        .health_check_timeout_seconds(4)
        .healthy_threshold_count(2)
        .unhealthy_threshold_count(3)
        .matcher(Matcher::builder().http_code("200").build())
        .set_tags(Some(tags))
        .send()
        .await;
    match created {
        Ok(out) => match out.target_groups().first() {
            Some(group) => Ok((group.clone(), true)),
            None => Err(ProvisionError::transient(format!(
                "create target group {}: no target group in the answer",
                spec.name
            ))),
        },
        Err(err) if errors::is(&err, &["DuplicateTargetGroupName"]) => {
            match find_target_group(elb, spec.name).await? {
                Some(found) => Ok((found, false)),
                None => Err(ProvisionError::transient(format!(
                    "target group {} was reported to exist but cannot be found",
                    spec.name
                ))),
            }
        }
        Err(err) => Err(errors::aws(
            format!("create target group {}", spec.name),
            err,
        )),
    }
}

/// Every rule on the listener (all pages).
pub(super) async fn listener_rules(
    elb: &Client,
    listener_arn: &str,
) -> Result<Vec<Rule>, ProvisionError> {
    let mut rules = Vec::new();
    let mut marker = None;
    loop {
        let out = elb
            .describe_rules()
            .listener_arn(listener_arn)
            .page_size(400)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| errors::aws(format!("describe rules of listener {listener_arn}"), e))?;
        rules.extend(out.rules().iter().cloned());
        match out.next_marker() {
            Some(next) if !next.is_empty() => marker = Some(next.to_owned()),
            _ => return Ok(rules),
        }
    }
}

/// Whether `rule` routes `host`.
pub(super) fn routes_host(rule: &Rule, host: &str) -> bool {
    rule.conditions().iter().any(|c| {
        c.host_header_config()
            .map(|h| h.values())
            .into_iter()
            .chain(std::iter::once(c.values()))
            .flatten()
            .any(|v| v.eq_ignore_ascii_case(host))
    })
}

/// The lowest priority (1..=50000) no rule holds.
fn lowest_free_priority(rules: &[Rule]) -> Option<i32> {
    let taken: BTreeSet<i32> = rules
        .iter()
        .filter_map(|r| r.priority().and_then(|p| p.parse().ok()))
        .collect();
    (1..=50_000).find(|p| !taken.contains(p))
}

/// Finds the rule routing `host` on the listener, or creates it forwarding to `target_group_arn`
/// at the lowest free priority, re-reading the rules after each `PriorityInUse` (bounded).
/// Returns the rule's ARN and whether it was created now.
pub(super) async fn ensure_rule(
    elb: &Client,
    listener_arn: &str,
    host: &str,
    target_group_arn: &str,
    tags: &[(String, String)],
) -> Result<(String, bool), ProvisionError> {
    for attempt in 0..RULE_ATTEMPTS {
        let rules = listener_rules(elb, listener_arn).await?;
        if let Some(existing) = rules.iter().find(|r| routes_host(r, host)) {
            return Ok((existing.rule_arn().unwrap_or_default().to_owned(), false));
        }
        let Some(priority) = lowest_free_priority(&rules) else {
            return Err(ProvisionError::transient(format!(
                "listener {listener_arn} has no free rule priority"
            )));
        };
        let created = elb
            .create_rule()
            .listener_arn(listener_arn)
            .priority(priority)
            .conditions(
                RuleCondition::builder()
                    .field("host-header")
                    .host_header_config(HostHeaderConditionConfig::builder().values(host).build())
                    .build(),
            )
            .actions(
                Action::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .target_group_arn(target_group_arn)
                    .build(),
            )
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await;
        match created {
            Ok(out) => {
                let arn = out
                    .rules()
                    .first()
                    .and_then(|r| r.rule_arn())
                    .unwrap_or_default()
                    .to_owned();
                return Ok((arn, true));
            }
            Err(err) if errors::is(&err, &["PriorityInUse"]) => {
                // Another replica took it; spread the retries so two racers do not meet again.
                let pause = rand::rng().random_range(10..60 + 20 * u64::from(attempt));
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            Err(err) => {
                return Err(errors::aws(
                    format!("create rule for {host} on listener {listener_arn}"),
                    err,
                ));
            }
        }
    }
    Err(ProvisionError::transient(format!(
        "create rule for {host} on listener {listener_arn}: every priority tried was taken by \
         another writer ({RULE_ATTEMPTS} attempts)"
    )))
}

/// Tags of `arns`, asked in batches of 20 (the API's limit).
pub(super) async fn tags_of(
    elb: &Client,
    arns: &[String],
) -> Result<BTreeMap<String, Tags>, ProvisionError> {
    let mut all = BTreeMap::new();
    for batch in arns.chunks(20) {
        let out = elb
            .describe_tags()
            .set_resource_arns(Some(batch.to_vec()))
            .send()
            .await
            .map_err(|e| errors::aws("describe tags of load balancer resources", e))?;
        for description in out.tag_descriptions() {
            let tags = description
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or("").to_owned())))
                .collect();
            all.insert(
                description.resource_arn().unwrap_or_default().to_owned(),
                tags,
            );
        }
    }
    Ok(all)
}

/// Every target group whose name starts with `prefix` (all pages).
pub(super) async fn target_groups_named(
    elb: &Client,
    prefix: &str,
) -> Result<Vec<TargetGroup>, ProvisionError> {
    let mut groups = Vec::new();
    let mut marker = None;
    loop {
        let out = elb
            .describe_target_groups()
            .page_size(400)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| errors::aws("describe target groups", e))?;
        groups.extend(
            out.target_groups()
                .iter()
                .filter(|g| g.target_group_name().is_some_and(|n| n.starts_with(prefix)))
                .cloned(),
        );
        match out.next_marker() {
            Some(next) if !next.is_empty() => marker = Some(next.to_owned()),
            _ => return Ok(groups),
        }
    }
}

/// Registers `ip:port` in the target group (registering twice is harmless).
pub(super) async fn register_target(
    elb: &Client,
    target_group_arn: &str,
    ip: &str,
    port: u16,
) -> Result<(), ProvisionError> {
    elb.register_targets()
        .target_group_arn(target_group_arn)
        .targets(target(ip, port))
        .send()
        .await
        .map_err(|e| {
            errors::aws(
                format!("register {ip} in target group {target_group_arn}"),
                e,
            )
        })?;
    Ok(())
}

/// The health state of `ip:port` in the target group (`healthy`, `initial`, …) and its reason.
pub(super) async fn target_health(
    elb: &Client,
    target_group_arn: &str,
    ip: &str,
    port: u16,
) -> Result<(String, Option<String>), ProvisionError> {
    let out = elb
        .describe_target_health()
        .target_group_arn(target_group_arn)
        .targets(target(ip, port))
        .send()
        .await
        .map_err(|e| errors::aws(format!("describe target health of {target_group_arn}"), e))?;
    let health = out
        .target_health_descriptions()
        .iter()
        .find(|d| d.target().and_then(|t| t.id()) == Some(ip))
        .and_then(|d| d.target_health());
    Ok(match health {
        Some(h) => (
            h.state()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| "unknown".to_owned()),
            h.description().map(str::to_owned),
        ),
        None => ("unregistered".to_owned(), None),
    })
}

fn target(ip: &str, port: u16) -> TargetDescription {
    TargetDescription::builder()
        .id(ip)
        .port(i32::from(port))
        .build()
}

/// Adds tags to a target group or rule.
pub(super) async fn add_tags(
    elb: &Client,
    arn: &str,
    tags: &[(String, String)],
) -> Result<(), ProvisionError> {
    elb.add_tags()
        .resource_arns(arn)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .send()
        .await
        .map_err(|e| errors::aws(format!("tag {arn}"), e))?;
    Ok(())
}

/// Deletes the rule; a rule already gone is fine.
pub(super) async fn delete_rule(elb: &Client, rule_arn: &str) -> Result<(), ProvisionError> {
    match elb.delete_rule().rule_arn(rule_arn).send().await {
        Ok(_) => Ok(()),
        Err(err) if errors::is(&err, &["RuleNotFound"]) => Ok(()),
        Err(err) => Err(errors::aws(format!("delete rule {rule_arn}"), err)),
    }
}

/// Deletes the target group; already gone is fine. `ResourceInUse` (the rule's deletion not yet
/// seen) is retried briefly.
pub(super) async fn delete_target_group(
    elb: &Client,
    arn: &str,
    poll: Duration,
) -> Result<(), ProvisionError> {
    let mut attempts = 0;
    loop {
        match elb.delete_target_group().target_group_arn(arn).send().await {
            Ok(_) => return Ok(()),
            Err(err) if errors::is(&err, &["TargetGroupNotFound"]) => return Ok(()),
            Err(err) if errors::is(&err, &["ResourceInUse"]) && attempts < 10 => {
                attempts += 1;
                tokio::time::sleep(poll).await;
            }
            Err(err) => return Err(errors::aws(format!("delete target group {arn}"), err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(priority: &str, host: Option<&str>) -> Rule {
        let mut rule = Rule::builder().priority(priority);
        if let Some(host) = host {
            rule = rule.conditions(
                RuleCondition::builder()
                    .field("host-header")
                    .host_header_config(HostHeaderConditionConfig::builder().values(host).build())
                    .build(),
            );
        }
        rule.build()
    }

    #[test]
    fn the_lowest_free_priority_fills_gaps_and_ignores_the_default_rule() {
        assert_eq!(lowest_free_priority(&[]), Some(1));
        assert_eq!(
            lowest_free_priority(&[rule("default", None), rule("1", None), rule("3", None)]),
            Some(2)
        );
        assert_eq!(
            lowest_free_priority(&[rule("2", None), rule("1", None)]),
            Some(3)
        );
    }

    #[test]
    fn a_rule_routes_its_host_case_insensitively() {
        let r = rule("4", Some("abc123.interviews.example.com"));
        assert!(routes_host(&r, "ABC123.interviews.example.com"));
        assert!(!routes_host(&r, "abc1234.interviews.example.com"));
        assert!(!routes_host(
            &rule("5", None),
            "abc123.interviews.example.com"
        ));
    }
}
