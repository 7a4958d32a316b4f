//! The backend settings: the embedded default (`local`) or AWS (`PREQUEL_BACKEND=aws`).
//!
//! On AWS, the names of the shared infrastructure come from `infra/`'s Terraform outputs, one
//! setting per output with the same name (`ecs_cluster` ↔ `PREQUEL_ECS_CLUSTER`), and the AWS
//! connection from the standard variables the SDK reads itself (`AWS_REGION`,
//! `AWS_ENDPOINT_URL`, the credentials chain).

use super::{ConfigError, FileSettings, Lookup, Setting, Source, parse_or_default, parse_switch};

/// Which backends `prequel serve` runs on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Backend {
    /// SQLite, local code-server processes, challenges from a folder, secrets in files.
    #[default]
    Local,
    /// DynamoDB, ECS Fargate behind the shared ALB, challenges and archives in S3, secrets in SSM.
    Aws(Box<AwsSetup>),
}

/// Where Prequel's shared AWS infrastructure is (see `infra/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSetup {
    /// `PREQUEL_PREFIX`: the first part of every resource name.
    pub prefix: String,
    /// `PREQUEL_ENVIRONMENT`: the second part (`prod`, `staging`).
    pub environment: String,
    /// `PREQUEL_DOMAIN`: interviews are served at `https://{id}.{domain}`.
    pub domain: String,
    /// `PREQUEL_ECS_CLUSTER`: the cluster interview tasks run in.
    pub ecs_cluster: String,
    /// `PREQUEL_SUBNETS`: where interview tasks get their network interface.
    pub subnets: Vec<String>,
    /// `PREQUEL_SECURITY_GROUPS`: the interview tasks' security groups.
    pub security_groups: Vec<String>,
    /// `PREQUEL_VPC_ID`: the VPC of the target groups.
    pub vpc_id: String,
    /// `PREQUEL_ALB_LISTENER_ARN`: the shared ALB's HTTPS listener.
    pub alb_listener_arn: String,
    /// `PREQUEL_EXECUTION_ROLE_ARN`: the role ECS uses to pull the image and read the password.
    pub execution_role_arn: String,
    /// `PREQUEL_TASK_ROLE_ARN`: a role for the interview task itself; none by default, since the
    /// candidate has a shell in it.
    pub task_role_arn: Option<String>,
    /// `PREQUEL_INSTANCE_IMAGE`: the interview image (`instance/`).
    pub instance_image: String,
    /// `PREQUEL_LOG_GROUP`: where interview containers log, if anywhere.
    pub log_group: Option<String>,
    /// `PREQUEL_ASSIGN_PUBLIC_IP`: whether interview tasks get a public IP (needed to pull
    /// images in public subnets without a NAT gateway, the default network of `infra/`).
    pub assign_public_ip: bool,
}

pub(super) const BACKEND: Setting = Setting {
    flag: "--backend",
    env: "PREQUEL_BACKEND",
    key: "backend",
};

// No flags: these are set once per deployment, from Terraform's outputs.
macro_rules! aws_settings {
    ($($name:ident => $env:literal, $key:literal;)*) => {
        $(const $name: Setting = Setting { flag: "", env: $env, key: $key };)*
    };
}

aws_settings! {
    PREFIX => "PREQUEL_PREFIX", "prefix";
    ENVIRONMENT => "PREQUEL_ENVIRONMENT", "environment";
    DOMAIN => "PREQUEL_DOMAIN", "domain";
    ECS_CLUSTER => "PREQUEL_ECS_CLUSTER", "ecs_cluster";
    SUBNETS => "PREQUEL_SUBNETS", "subnets";
    SECURITY_GROUPS => "PREQUEL_SECURITY_GROUPS", "security_groups";
    VPC_ID => "PREQUEL_VPC_ID", "vpc_id";
    ALB_LISTENER_ARN => "PREQUEL_ALB_LISTENER_ARN", "alb_listener_arn";
    EXECUTION_ROLE_ARN => "PREQUEL_EXECUTION_ROLE_ARN", "execution_role_arn";
    TASK_ROLE_ARN => "PREQUEL_TASK_ROLE_ARN", "task_role_arn";
    INSTANCE_IMAGE => "PREQUEL_INSTANCE_IMAGE", "instance_image";
    LOG_GROUP => "PREQUEL_LOG_GROUP", "log_group";
    ASSIGN_PUBLIC_IP => "PREQUEL_ASSIGN_PUBLIC_IP", "assign_public_ip";
}

/// The default `PREQUEL_PREFIX`, as `infra/` names things by default.
pub const DEFAULT_PREFIX: &str = "prequel";
/// The default `PREQUEL_ENVIRONMENT`.
pub const DEFAULT_ENVIRONMENT: &str = "prod";

/// The backend settings. With `aws`, every required setting must be given; the first missing
/// one is named, with the Terraform output it comes from.
pub(super) fn resolve_backend(
    backend: Option<(String, Source)>,
    lookup: Lookup<'_>,
) -> Result<Backend, ConfigError> {
    let backend = backend.unwrap_or_else(|| ("local".to_owned(), Source::Default));
    match backend.0.trim().to_ascii_lowercase().as_str() {
        "local" => return Ok(Backend::Local),
        "aws" => {}
        _ => {
            return Err(ConfigError::Invalid {
                origin: backend.1,
                value: backend.0,
                problem: "is not local or aws".to_owned(),
            });
        }
    }
    let origin = backend.1;
    let text = |setting: &Setting, from_file: fn(&FileSettings) -> &Option<String>| {
        lookup(setting, from_file)
            .map(|(value, _)| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    };
    let required = |setting: &Setting, from_file: fn(&FileSettings) -> &Option<String>| {
        text(setting, from_file).ok_or_else(|| ConfigError::Invalid {
            origin: origin.clone(),
            value: "aws".to_owned(),
            problem: format!(
                "needs {} (Terraform output `{}` of infra/; see the deploy guide)",
                setting.env, setting.key
            ),
        })
    };
    let list = |setting: &Setting, from_file: fn(&FileSettings) -> &Option<String>| {
        required(setting, from_file).map(|value| {
            value
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
    };
    let prefix = text(&PREFIX, |f| &f.prefix).unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
    let environment =
        text(&ENVIRONMENT, |f| &f.environment).unwrap_or_else(|| DEFAULT_ENVIRONMENT.to_owned());
    Ok(Backend::Aws(Box::new(AwsSetup {
        prefix,
        environment,
        domain: required(&DOMAIN, |f| &f.domain)?,
        ecs_cluster: required(&ECS_CLUSTER, |f| &f.ecs_cluster)?,
        subnets: list(&SUBNETS, |f| &f.subnets)?,
        security_groups: list(&SECURITY_GROUPS, |f| &f.security_groups)?,
        vpc_id: required(&VPC_ID, |f| &f.vpc_id)?,
        alb_listener_arn: required(&ALB_LISTENER_ARN, |f| &f.alb_listener_arn)?,
        execution_role_arn: required(&EXECUTION_ROLE_ARN, |f| &f.execution_role_arn)?,
        task_role_arn: text(&TASK_ROLE_ARN, |f| &f.task_role_arn),
        instance_image: required(&INSTANCE_IMAGE, |f| &f.instance_image)?,
        log_group: text(&LOG_GROUP, |f| &f.log_group),
        assign_public_ip: parse_or_default(
            lookup(&ASSIGN_PUBLIC_IP, |f| &f.assign_public_ip),
            "true",
            parse_switch,
        )?,
    })))
}
