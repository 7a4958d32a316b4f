# The whole composition, with every AWS call mocked: the contract between Terraform and the bot.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_availability_zones" {
    defaults = { names = ["us-east-1a", "us-east-1b"] }
  }
  mock_resource "aws_lb" {
    defaults = {
      arn      = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/prequel-prod/50dc6c495c0c9188"
      dns_name = "prequel-prod-1234567890.us-east-1.elb.amazonaws.com"
      zone_id  = "Z35SXDOTRQ7X7K"
    }
  }
  mock_resource "aws_lb_listener" {
    defaults = { arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/prequel-prod/50dc6c495c0c9188/f2f7dc8efc522ab2" }
  }
  mock_resource "aws_lb_listener_rule" {
    defaults = { arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/prequel-prod/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee" }
  }
  mock_resource "aws_lb_target_group" {
    defaults = { arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/prequel-prod-bot/73e2d6bc24d8a067" }
  }
  mock_resource "aws_acm_certificate" {
    defaults = {
      arn                       = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
      domain_validation_options = []
    }
  }
  mock_resource "aws_ecs_cluster" {
    defaults = { arn = "arn:aws:ecs:us-east-1:123456789012:cluster/prequel-prod" }
  }
  mock_resource "aws_ecs_task_definition" {
    defaults = { arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/prequel-prod-bot:1" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/prequel-prod-mock" }
  }
  mock_resource "aws_ecr_repository" {
    defaults = {
      arn            = "arn:aws:ecr:us-east-1:123456789012:repository/prequel-prod-mock"
      repository_url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/prequel-prod-mock"
    }
  }
  mock_resource "aws_dynamodb_table" {
    defaults = { arn = "arn:aws:dynamodb:us-east-1:123456789012:table/prequel-prod-mock" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::prequel-prod-mock" }
  }
  mock_resource "aws_ssm_parameter" {
    defaults = { arn = "arn:aws:ssm:us-east-1:123456789012:parameter/prequel/prod/bot/mock" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/prequel/prod/mock" }
  }
  mock_resource "aws_subnet" {
    defaults = { id = "subnet-0aaaaaaaaaaaaaaaa" }
  }
}

override_resource {
  target = module.cluster.aws_security_group.interviews
  values = { id = "sg-0000000000000c0de" }
}

override_resource {
  target = module.cluster.aws_security_group.bot
  values = { id = "sg-00000000000000b07" }
}

override_resource {
  target = module.iam.aws_iam_role.interview_execution
  values = { arn = "arn:aws:iam::123456789012:role/prequel-prod-interview-execution" }
}

override_resource {
  target = module.registry.aws_ecr_repository.this["instance"]
  values = { repository_url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/prequel-prod-instance" }
}

variables {
  domain             = "interviews.example.com"
  instance_image_tag = "v1"
  bot_image_tag      = "v1"
}

run "outputs_are_the_bots_settings_one_to_one" {
  assert {
    condition = alltrue([for v in [
      output.prefix, output.environment, output.domain, output.ecs_cluster, output.subnets,
      output.security_groups, output.vpc_id, output.alb_listener_arn, output.execution_role_arn,
      output.task_role_arn, output.instance_image, output.log_group, output.assign_public_ip,
    ] : v != null])
    error_message = "every setting has an output of its own name"
  }
  assert {
    condition = {
      for k, v in module.bot.environment : k => v if startswith(k, "PREQUEL_")
      } == {
      PREQUEL_BACKEND            = "aws"
      PREQUEL_LISTEN             = "0.0.0.0:8080"
      PREQUEL_PREFIX             = output.prefix
      PREQUEL_ENVIRONMENT        = output.environment
      PREQUEL_DOMAIN             = output.domain
      PREQUEL_ECS_CLUSTER        = output.ecs_cluster
      PREQUEL_SUBNETS            = output.subnets
      PREQUEL_SECURITY_GROUPS    = output.security_groups
      PREQUEL_VPC_ID             = output.vpc_id
      PREQUEL_ALB_LISTENER_ARN   = output.alb_listener_arn
      PREQUEL_EXECUTION_ROLE_ARN = output.execution_role_arn
      PREQUEL_INSTANCE_IMAGE     = output.instance_image
      PREQUEL_LOG_GROUP          = output.log_group
      PREQUEL_ASSIGN_PUBLIC_IP   = output.assign_public_ip
    }
    error_message = "the bot's environment is exactly PREQUEL_{OUTPUT} for each non-empty output (task_role_arn is empty)"
  }
  assert {
    condition     = module.bot.environment["AWS_REGION"] == "us-east-1"
    error_message = "the bot gets AWS_REGION"
  }
}

run "settings_have_the_values_the_bot_expects" {
  assert {
    condition     = output.prefix == "prequel" && output.environment == "prod" && output.ecs_cluster == "prequel-prod"
    error_message = "defaults: prequel / prod"
  }
  assert {
    condition     = length(split(",", output.subnets)) == 2
    error_message = "subnets are comma-joined, two of them"
  }
  assert {
    condition     = output.security_groups == "sg-0000000000000c0de"
    error_message = "security_groups is the interview tasks' group, not the bot's"
  }
  assert {
    condition     = output.execution_role_arn == "arn:aws:iam::123456789012:role/prequel-prod-interview-execution"
    error_message = "execution_role_arn is the interview tasks' execution role"
  }
  assert {
    condition     = output.task_role_arn == "" && output.assign_public_ip == "true"
    error_message = "no task role by default; public IPs in the no-NAT network"
  }
  assert {
    condition     = output.instance_image == "123456789012.dkr.ecr.us-east-1.amazonaws.com/prequel-prod-instance:v1"
    error_message = "instance_image is the instance repository at the given tag"
  }
  assert {
    condition     = output.log_group == "/prequel/prod/interviews"
    error_message = "log_group is the interview containers' group"
  }
  assert {
    condition     = output.alb_listener_arn == module.alb.https_listener_arn
    error_message = "the listener is the HTTPS one"
  }
}

run "the_bot_gets_its_secrets_from_ssm_not_its_environment" {
  assert {
    condition     = length(setintersection(keys(module.bot.environment), ["PREQUEL_ADMIN_TOKEN", "PREQUEL_SLACK_SIGNING_SECRET", "PREQUEL_SLACK_BOT_TOKEN"])) == 0
    error_message = "no secret is an environment value"
  }
  assert {
    condition     = toset(keys(output.deploy.bot_secret_parameters)) == toset(["PREQUEL_ADMIN_TOKEN", "PREQUEL_SLACK_SIGNING_SECRET", "PREQUEL_SLACK_BOT_TOKEN"])
    error_message = "Slack is on by default, Discord off"
  }
}

run "everything_is_named_for_the_deployment" {
  variables {
    prefix      = "acme"
    environment = "staging"
  }
  assert {
    condition     = output.ecs_cluster == "acme-staging" && output.log_group == "/acme/staging/interviews"
    error_message = "names follow prefix and environment"
  }
  assert {
    condition     = output.deploy.challenges_bucket == "acme-staging-challenges" && output.deploy.history_bucket == "acme-staging-history"
    error_message = "bucket names follow prefix and environment"
  }
  assert {
    condition     = output.deploy.interviews_table == "acme-staging-interviews" && output.deploy.operations_table == "acme-staging-operations"
    error_message = "table names follow prefix and environment"
  }
}

run "a_prefix_and_environment_too_long_for_target_groups_are_refused" {
  command = plan
  variables {
    prefix      = "abcdefghijk"
    environment = "staging1"
  }
  expect_failures = [var.environment]
}
