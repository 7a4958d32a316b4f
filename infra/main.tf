# The shared infrastructure of one Prequel deployment, `{prefix}-{environment}`: applied once by
# a team, then the bot creates and deletes each interview's task, target group, listener rule
# and password itself. Module map: infra/README.md.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  stem = "${var.prefix}-${var.environment}"
  tags = merge(var.tags, { "prequel:deployment" = local.stem })
}

module "network" {
  source     = "./modules/network"
  name       = local.stem
  cidr_block = var.vpc_cidr
  tags       = local.tags
}

module "alb" {
  source              = "./modules/alb"
  name                = local.stem
  vpc_id              = module.network.vpc_id
  subnet_ids          = module.network.subnet_ids
  domain              = var.domain
  bot_host            = var.bot_host
  certificate_arn     = var.certificate_arn
  route53_zone_id     = var.route53_zone_id
  deletion_protection = var.deletion_protection
  tags                = local.tags
}

module "cluster" {
  source                       = "./modules/cluster"
  name                         = local.stem
  log_group_root               = "/${var.prefix}/${var.environment}"
  vpc_id                       = module.network.vpc_id
  alb_security_group_id        = module.alb.security_group_id
  interview_log_retention_days = var.interview_log_retention_days
  bot_log_retention_days       = var.bot_log_retention_days
  tags                         = local.tags
}

module "data" {
  source                   = "./modules/data"
  prefix                   = var.prefix
  environment              = var.environment
  interviews_listing_index = var.interviews_listing_index
  history_retention_days   = var.history_retention_days
  deletion_protection      = var.deletion_protection
  slack_enabled            = var.slack_enabled
  discord_enabled          = var.discord_enabled
  tags                     = local.tags
}

module "registry" {
  source       = "./modules/registry"
  name         = local.stem
  force_delete = !var.deletion_protection
  tags         = local.tags
}

module "iam" {
  source                = "./modules/iam"
  prefix                = var.prefix
  environment           = var.environment
  partition             = data.aws_partition.current.partition
  region                = data.aws_region.current.name
  account_id            = data.aws_caller_identity.current.account_id
  alb_listener_arn      = module.alb.https_listener_arn
  bot_target_group_arn  = module.alb.bot_target_group_arn
  bot_listener_rule_arn = module.alb.bot_listener_rule_arn
  interview_task_role   = var.interview_task_role
  tags                  = local.tags
}

locals {
  # The bot's settings: each is an output of this module with the same name (outputs.tf) and the
  # bot's environment variable PREQUEL_{NAME} (modules/bot).
  settings = {
    prefix             = var.prefix
    environment        = var.environment
    domain             = var.domain
    ecs_cluster        = module.cluster.cluster_name
    subnets            = join(",", module.network.subnet_ids)
    security_groups    = module.cluster.interview_security_group_id
    vpc_id             = module.network.vpc_id
    alb_listener_arn   = module.alb.https_listener_arn
    execution_role_arn = module.iam.interview_execution_role_arn
    task_role_arn      = module.iam.interview_task_role_arn
    instance_image     = "${module.registry.instance_repository_url}:${var.instance_image_tag}"
    log_group          = module.cluster.interview_log_group_name
    # The default network has no NAT gateway: tasks need a public IP to pull images and reach S3.
    assign_public_ip = "true"
  }
}

module "bot" {
  source             = "./modules/bot"
  name               = local.stem
  region             = data.aws_region.current.name
  cluster_arn        = module.cluster.cluster_arn
  image              = "${module.registry.bot_repository_url}:${var.bot_image_tag}"
  settings           = local.settings
  extra_environment  = var.bot_environment
  secrets            = module.data.bot_secret_arns
  subnet_ids         = module.network.subnet_ids
  security_group_id  = module.cluster.bot_security_group_id
  assign_public_ip   = true
  target_group_arn   = module.alb.bot_target_group_arn
  execution_role_arn = module.iam.bot_execution_role_arn
  task_role_arn      = module.iam.bot_task_role_arn
  log_group_name     = module.cluster.bot_log_group_name
  cpu                = var.bot_cpu
  memory             = var.bot_memory
  architecture       = var.bot_architecture
  capacity_provider  = var.bot_capacity_provider
  tags               = local.tags
}
