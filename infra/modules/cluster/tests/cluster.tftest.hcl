mock_provider "aws" {
  mock_resource "aws_ecs_cluster" {
    defaults = { arn = "arn:aws:ecs:us-east-1:123456789012:cluster/prequel-prod" }
  }
  mock_resource "aws_security_group" {
    defaults = { id = "sg-0123456789abcdef0" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/prequel/prod/x" }
  }
}

# Distinct ids, so that "from the bot's group" cannot pass by accident.
override_resource {
  target = aws_security_group.interviews
  values = { id = "sg-0000000000000c0de" }
}

override_resource {
  target = aws_security_group.bot
  values = { id = "sg-00000000000000b07" }
}

variables {
  name                  = "prequel-prod"
  log_group_root        = "/prequel/prod"
  vpc_id                = "vpc-0123456789abcdef0"
  alb_security_group_id = "sg-0a1b0a1b0a1b0a1b0"
  tags                  = { "prequel:deployment" = "prequel-prod" }
}

run "fargate_and_fargate_spot_capacity" {
  assert {
    condition     = toset(aws_ecs_cluster_capacity_providers.this.capacity_providers) == toset(["FARGATE", "FARGATE_SPOT"])
    error_message = "both Fargate capacity providers"
  }
  assert {
    condition     = one(aws_ecs_cluster_capacity_providers.this.default_capacity_provider_strategy).capacity_provider == "FARGATE"
    error_message = "on-demand Fargate by default: Spot interruptions would end interviews"
  }
  assert {
    condition     = aws_ecs_cluster.this.name == "prequel-prod"
    error_message = "the cluster is named {prefix}-{environment}"
  }
}

run "interview_tasks_are_reachable_only_from_the_alb_and_the_bot" {
  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.interviews_code_server.security_group_id == "sg-0000000000000c0de" &&
      aws_vpc_security_group_ingress_rule.interviews_code_server.from_port == 8080 &&
      aws_vpc_security_group_ingress_rule.interviews_code_server.to_port == 8080 &&
      aws_vpc_security_group_ingress_rule.interviews_code_server.referenced_security_group_id == "sg-0a1b0a1b0a1b0a1b0" &&
      aws_vpc_security_group_ingress_rule.interviews_code_server.cidr_ipv4 == null
    )
    error_message = "8080 of interview tasks must be open to the ALB's security group only"
  }
  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.interviews_agent.security_group_id == "sg-0000000000000c0de" &&
      aws_vpc_security_group_ingress_rule.interviews_agent.from_port == 8081 &&
      aws_vpc_security_group_ingress_rule.interviews_agent.to_port == 8081 &&
      aws_vpc_security_group_ingress_rule.interviews_agent.referenced_security_group_id == "sg-00000000000000b07" &&
      aws_vpc_security_group_ingress_rule.interviews_agent.cidr_ipv4 == null
    )
    error_message = "8081 of interview tasks must be open to the bot's security group only"
  }
  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.bot_http.referenced_security_group_id == "sg-0a1b0a1b0a1b0a1b0" &&
      aws_vpc_security_group_ingress_rule.bot_http.from_port == 8080 &&
      aws_vpc_security_group_ingress_rule.bot_http.cidr_ipv4 == null
    )
    error_message = "the bot accepts 8080 from the ALB only"
  }
  assert {
    condition = alltrue([
      for r in [aws_vpc_security_group_egress_rule.interviews_https, aws_vpc_security_group_egress_rule.bot_https] :
      r.ip_protocol == "tcp" && r.from_port == 443 && r.to_port == 443
    ])
    error_message = "world-wide egress is HTTPS only, never all ports"
  }
}

run "the_alb_may_forward_only_to_8080_of_the_tasks" {
  assert {
    condition = alltrue([
      for r in [aws_vpc_security_group_egress_rule.alb_to_interviews, aws_vpc_security_group_egress_rule.alb_to_bot] :
      r.security_group_id == "sg-0a1b0a1b0a1b0a1b0" && r.from_port == 8080 && r.to_port == 8080 && r.cidr_ipv4 == null
    ])
    error_message = "the ALB's egress goes to 8080 of the task security groups only"
  }
}

run "log_groups_have_a_retention" {
  assert {
    condition     = aws_cloudwatch_log_group.interviews.name == "/prequel/prod/interviews" && aws_cloudwatch_log_group.interviews.retention_in_days == 14
    error_message = "interview logs: /{prefix}/{environment}/interviews, 14 days"
  }
  assert {
    condition     = aws_cloudwatch_log_group.bot.name == "/prequel/prod/bot" && aws_cloudwatch_log_group.bot.retention_in_days > 0
    error_message = "the bot's log group has a retention"
  }
}

run "a_retention_cloudwatch_refuses_is_refused" {
  command = plan
  variables {
    interview_log_retention_days = 10
  }
  expect_failures = [var.interview_log_retention_days]
}

run "everything_is_tagged_with_the_deployment" {
  assert {
    condition = alltrue([for t in [
      aws_ecs_cluster.this.tags, aws_cloudwatch_log_group.interviews.tags, aws_cloudwatch_log_group.bot.tags,
      aws_security_group.interviews.tags, aws_security_group.bot.tags,
      aws_vpc_security_group_ingress_rule.interviews_code_server.tags, aws_vpc_security_group_egress_rule.bot_https.tags,
    ] : t["prequel:deployment"] == "prequel-prod"])
    error_message = "every resource carries prequel:deployment"
  }
}
