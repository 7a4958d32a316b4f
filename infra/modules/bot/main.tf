# The bot as an ECS service: one Fargate task running `prequel serve` behind the shared load
# balancer (`bot.{domain}`), configured entirely by environment variables that are the root
# module's outputs (PREQUEL_{OUTPUT}), and by ECS secrets from SSM.

locals {
  container = "bot"
  settings  = { for k, v in var.settings : "PREQUEL_${upper(k)}" => v if v != "" }
  environment = merge(var.extra_environment, local.settings, {
    PREQUEL_BACKEND = "aws"
    PREQUEL_LISTEN  = "0.0.0.0:8080"
    AWS_REGION      = var.region
  })
}

resource "aws_ecs_task_definition" "bot" {
  family                   = "${var.name}-bot"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.cpu)
  memory                   = tostring(var.memory)
  execution_role_arn       = var.execution_role_arn
  task_role_arn            = var.task_role_arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.architecture
  }

  # The root file system is read-only; /tmp is the task's ephemeral storage.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name                   = local.container
    image                  = var.image
    essential              = true
    command                = ["serve"]
    readonlyRootFilesystem = true
    user                   = "65532:65532"
    portMappings           = [{ containerPort = 8080, protocol = "tcp" }]
    environment            = [for k in sort(keys(local.environment)) : { name = k, value = local.environment[k] }]
    secrets                = [for k in sort(keys(var.secrets)) : { name = k, valueFrom = var.secrets[k] }]
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    linuxParameters        = { initProcessEnabled = true }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = var.log_group_name
        awslogs-region        = var.region
        awslogs-stream-prefix = "bot"
      }
    }
  }])

  tags = var.tags
}

resource "aws_ecs_service" "bot" {
  name                               = "${var.name}-bot"
  cluster                            = var.cluster_arn
  task_definition                    = aws_ecs_task_definition.bot.arn
  desired_count                      = var.desired_count
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = 60
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  wait_for_steady_state              = false

  capacity_provider_strategy {
    capacity_provider = var.capacity_provider
    weight            = 1
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [var.security_group_id]
    assign_public_ip = var.assign_public_ip
  }

  load_balancer {
    target_group_arn = var.target_group_arn
    container_name   = local.container
    container_port   = 8080
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = !(var.architecture == "ARM64" && var.capacity_provider == "FARGATE_SPOT")
      error_message = "Fargate Spot does not run ARM64 tasks: use X86_64 with FARGATE_SPOT, or ARM64 with FARGATE."
    }
  }
}
