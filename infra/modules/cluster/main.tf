# The ECS cluster interviews run in (one-off RunTask Fargate tasks, never services) and the bot's
# service runs in; the tasks' log groups; and the two tasks' security groups, with every rule
# between them and the load balancer:
#
#   internet ──443──▶ ALB ──8080──▶ interview tasks ◀──8081── bot task
#                        └──8080──▶ bot task
#
# Interview tasks accept nothing else: 8080 (code-server) only from the ALB, 8081 (the archive
# agent) only from the bot. Both kinds of task may open HTTPS connections out (image layers, the
# starter bundle, the SSM secret, AWS APIs, Slack and Discord; candidates' package installs).

resource "aws_ecs_cluster" "this" {
  name = var.name
  tags = merge(var.tags, { Name = var.name })

  setting {
    #checkov:skip=CKV_AWS_65: Container Insights is billed per metric and task; off by default to stay in the base budget (variable container_insights turns it on).
    name  = "containerInsights"
    value = var.container_insights ? "enabled" : "disabled"
  }
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]

  # Interviews run on FARGATE (the bot's default; a Spot interruption would end a candidate's
  # session); FARGATE_SPOT is available to the bot's own service and to teams that accept it.
  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

resource "aws_cloudwatch_log_group" "interviews" {
  #checkov:skip=CKV_AWS_338: a year of candidates' container output is neither needed nor wanted (it may hold their code); the retention is a variable, 14 days by default.
  #checkov:skip=CKV_AWS_158: CloudWatch Logs encrypts every group at rest with service-owned keys; a customer-managed KMS key would add $1/month and key policy upkeep for logs that hold no secret (passwords never reach logs).
  name              = "${var.log_group_root}/interviews"
  retention_in_days = var.interview_log_retention_days
  tags              = var.tags
}

resource "aws_cloudwatch_log_group" "bot" {
  #checkov:skip=CKV_AWS_338: the bot's operational log is kept 30 days by default (a variable); the records of interviews live in DynamoDB, not in logs.
  #checkov:skip=CKV_AWS_158: CloudWatch Logs encrypts every group at rest with service-owned keys; the bot never logs a secret.
  name              = "${var.log_group_root}/bot"
  retention_in_days = var.bot_log_retention_days
  tags              = var.tags
}

# --- Security groups ----------------------------------------------------------------------------

resource "aws_security_group" "interviews" {
  #checkov:skip=CKV2_AWS_5: attached at run time: the bot passes it to every RunTask (output security_groups, PREQUEL_SECURITY_GROUPS).
  name        = "${var.name}-interviews"
  description = "Interview tasks: 8080 from the load balancer, 8081 from the bot, HTTPS out"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-interviews" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group" "bot" {
  #checkov:skip=CKV2_AWS_5: attached to the bot's ECS service in modules/bot (checkov does not follow module outputs).
  name        = "${var.name}-bot"
  description = "The bot task: 8080 from the load balancer; HTTPS out and 8081 to interview tasks"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-bot" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "interviews_code_server" {
  security_group_id            = aws_security_group.interviews.id
  description                  = "code-server, from the load balancer only"
  ip_protocol                  = "tcp"
  from_port                    = 8080
  to_port                      = 8080
  referenced_security_group_id = var.alb_security_group_id
  tags                         = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "interviews_agent" {
  security_group_id            = aws_security_group.interviews.id
  description                  = "the archive agent, from the bot only"
  ip_protocol                  = "tcp"
  from_port                    = 8081
  to_port                      = 8081
  referenced_security_group_id = aws_security_group.bot.id
  tags                         = var.tags
}

resource "aws_vpc_security_group_egress_rule" "interviews_https" {
  security_group_id = aws_security_group.interviews.id
  description       = "HTTPS out: image layers, the starter bundle, the archive upload, package registries"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
  tags              = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "bot_http" {
  security_group_id            = aws_security_group.bot.id
  description                  = "the bot's HTTP endpoints, from the load balancer only"
  ip_protocol                  = "tcp"
  from_port                    = 8080
  to_port                      = 8080
  referenced_security_group_id = var.alb_security_group_id
  tags                         = var.tags
}

resource "aws_vpc_security_group_egress_rule" "bot_https" {
  security_group_id = aws_security_group.bot.id
  description       = "HTTPS out: AWS APIs, Slack and Discord"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
  tags              = var.tags
}

resource "aws_vpc_security_group_egress_rule" "bot_to_agent" {
  security_group_id            = aws_security_group.bot.id
  description                  = "the archive request to interview tasks"
  ip_protocol                  = "tcp"
  from_port                    = 8081
  to_port                      = 8081
  referenced_security_group_id = aws_security_group.interviews.id
  tags                         = var.tags
}

resource "aws_vpc_security_group_egress_rule" "alb_to_interviews" {
  security_group_id            = var.alb_security_group_id
  description                  = "the load balancer forwards to code-server"
  ip_protocol                  = "tcp"
  from_port                    = 8080
  to_port                      = 8080
  referenced_security_group_id = aws_security_group.interviews.id
  tags                         = var.tags
}

resource "aws_vpc_security_group_egress_rule" "alb_to_bot" {
  security_group_id            = var.alb_security_group_id
  description                  = "the load balancer forwards to the bot"
  ip_protocol                  = "tcp"
  from_port                    = 8080
  to_port                      = 8080
  referenced_security_group_id = aws_security_group.bot.id
  tags                         = var.tags
}
