mock_provider "aws" {
  mock_resource "aws_ecs_task_definition" {
    defaults = { arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/prequel-prod-bot:1" }
  }
}

variables {
  name        = "prequel-prod"
  region      = "us-east-1"
  cluster_arn = "arn:aws:ecs:us-east-1:123456789012:cluster/prequel-prod"
  image       = "123456789012.dkr.ecr.us-east-1.amazonaws.com/prequel-prod-bot:v1"
  settings = {
    prefix           = "prequel"
    environment      = "prod"
    domain           = "interviews.example.com"
    task_role_arn    = ""
    assign_public_ip = "true"
  }
  secrets = {
    PREQUEL_ADMIN_TOKEN = "arn:aws:ssm:us-east-1:123456789012:parameter/prequel/prod/bot/admin-token"
  }
  subnet_ids         = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
  security_group_id  = "sg-00000000000000b07"
  target_group_arn   = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/prequel-prod-bot/73e2d6bc24d8a067"
  execution_role_arn = "arn:aws:iam::123456789012:role/prequel-prod-bot-execution"
  task_role_arn      = "arn:aws:iam::123456789012:role/prequel-prod-bot"
  log_group_name     = "/prequel/prod/bot"
  tags               = { "prequel:deployment" = "prequel-prod" }
}

run "settings_become_prequel_environment_variables" {
  assert {
    condition = output.environment == {
      PREQUEL_PREFIX           = "prequel"
      PREQUEL_ENVIRONMENT      = "prod"
      PREQUEL_DOMAIN           = "interviews.example.com"
      PREQUEL_ASSIGN_PUBLIC_IP = "true"
      PREQUEL_BACKEND          = "aws"
      PREQUEL_LISTEN           = "0.0.0.0:8080"
      AWS_REGION               = "us-east-1"
    }
    error_message = "each setting is PREQUEL_{KEY}; empty ones (task_role_arn) are left out"
  }
}

run "the_container_serves_on_8080_with_secrets_from_ssm" {
  assert {
    condition     = jsondecode(aws_ecs_task_definition.bot.container_definitions)[0].portMappings[0].containerPort == 8080
    error_message = "the bot listens on 8080"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.bot.container_definitions)[0].secrets == [{ name = "PREQUEL_ADMIN_TOKEN", valueFrom = "arn:aws:ssm:us-east-1:123456789012:parameter/prequel/prod/bot/admin-token" }]
    error_message = "secrets are ECS secrets, never environment values"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.bot.container_definitions)[0].command == ["serve"]
    error_message = "the container runs `prequel serve`"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.bot.container_definitions)[0].readonlyRootFilesystem
    error_message = "read-only root file system"
  }
}

run "the_service_sits_behind_the_alb_on_spot" {
  assert {
    condition     = one(aws_ecs_service.bot.load_balancer).container_port == 8080 && one(aws_ecs_service.bot.load_balancer).target_group_arn == var.target_group_arn
    error_message = "the service registers in the bot's target group"
  }
  assert {
    condition     = one(aws_ecs_service.bot.capacity_provider_strategy).capacity_provider == "FARGATE_SPOT"
    error_message = "the bot runs on Fargate Spot by default"
  }
  assert {
    condition     = one(aws_ecs_service.bot.network_configuration).security_groups == toset(["sg-00000000000000b07"]) && one(aws_ecs_service.bot.network_configuration).assign_public_ip
    error_message = "the bot's security group, and a public IP in the no-NAT network"
  }
}

run "arm_cannot_run_on_spot_so_it_is_on_demand" {
  variables {
    architecture      = "ARM64"
    capacity_provider = "FARGATE"
  }
  assert {
    condition     = one(aws_ecs_task_definition.bot.runtime_platform).cpu_architecture == "ARM64"
    error_message = "the architecture is a variable"
  }
}

run "arm_on_spot_is_refused" {
  command = plan
  variables {
    architecture = "ARM64"
  }
  expect_failures = [aws_ecs_service.bot]
}

run "the_service_and_task_definition_are_tagged" {
  assert {
    condition     = aws_ecs_service.bot.tags["prequel:deployment"] == "prequel-prod" && aws_ecs_task_definition.bot.tags["prequel:deployment"] == "prequel-prod"
    error_message = "the bot's resources carry prequel:deployment"
  }
}
