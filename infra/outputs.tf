# One output per setting of the bot, with the setting's own name: the bot reads each as
# PREQUEL_{NAME} (its ECS service gets them from local.settings in main.tf), and a bot run
# elsewhere can be configured from `terraform output`. Deployment helpers are grouped under
# `deploy`, which is not a setting.

output "prefix" {
  description = "PREQUEL_PREFIX"
  value       = local.settings.prefix
}

output "environment" {
  description = "PREQUEL_ENVIRONMENT"
  value       = local.settings.environment
}

output "domain" {
  description = "PREQUEL_DOMAIN: interviews are at https://{id}.{domain}."
  value       = local.settings.domain
}

output "ecs_cluster" {
  description = "PREQUEL_ECS_CLUSTER"
  value       = local.settings.ecs_cluster
}

output "subnets" {
  description = "PREQUEL_SUBNETS (comma-separated)"
  value       = local.settings.subnets
}

output "security_groups" {
  description = "PREQUEL_SECURITY_GROUPS: the interview tasks' security group (comma-separated)"
  value       = local.settings.security_groups
}

output "vpc_id" {
  description = "PREQUEL_VPC_ID"
  value       = local.settings.vpc_id
}

output "alb_listener_arn" {
  description = "PREQUEL_ALB_LISTENER_ARN: the shared HTTPS listener"
  value       = local.settings.alb_listener_arn
}

output "execution_role_arn" {
  description = "PREQUEL_EXECUTION_ROLE_ARN: the interview tasks' execution role"
  value       = local.settings.execution_role_arn
}

output "task_role_arn" {
  description = "PREQUEL_TASK_ROLE_ARN: empty unless interview_task_role is on"
  value       = local.settings.task_role_arn
}

output "instance_image" {
  description = "PREQUEL_INSTANCE_IMAGE"
  value       = local.settings.instance_image
}

output "log_group" {
  description = "PREQUEL_LOG_GROUP: the interview containers' log group"
  value       = local.settings.log_group
}

output "assign_public_ip" {
  description = "PREQUEL_ASSIGN_PUBLIC_IP"
  value       = local.settings.assign_public_ip
}

output "deploy" {
  description = "Not a bot setting: what docs/deploy.md needs (repositories, DNS, secret parameters)."
  value = {
    bot_url                        = "https://${module.alb.bot_host}"
    alb_dns_name                   = module.alb.alb_dns_name
    alb_zone_id                    = module.alb.alb_zone_id
    certificate_validation_records = module.alb.certificate_validation_records
    instance_repository_url        = module.registry.instance_repository_url
    bot_repository_url             = module.registry.bot_repository_url
    challenges_bucket              = module.data.challenges_bucket
    history_bucket                 = module.data.history_bucket
    interviews_table               = module.data.interviews_table_name
    operations_table               = module.data.operations_table_name
    bot_secret_parameters          = module.data.bot_secret_names
    bot_log_group                  = module.cluster.bot_log_group_name
    bot_service                    = module.bot.service_name
  }
}
