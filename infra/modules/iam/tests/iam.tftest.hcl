mock_provider "aws" {
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/prequel-prod-mock" }
  }
}

override_resource {
  target = aws_iam_role.interview_execution
  values = { arn = "arn:aws:iam::123456789012:role/prequel-prod-interview-execution" }
}

variables {
  prefix                = "prequel"
  environment           = "prod"
  region                = "us-east-1"
  account_id            = "123456789012"
  alb_listener_arn      = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/prequel-prod/50dc6c495c0c9188/f2f7dc8efc522ab2"
  bot_target_group_arn  = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/prequel-prod-bot/73e2d6bc24d8a067"
  bot_listener_rule_arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/prequel-prod/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
  tags                  = { "prequel:deployment" = "prequel-prod" }
}

run "every_grant_is_scoped_to_the_deployment" {
  assert {
    # Each Allow statement of each policy: its resources name `prequel-prod` or `/prequel/prod/`,
    # or are `*` for actions AWS cannot scope, or are KMS keys usable only through SSM.
    condition = alltrue(flatten([
      for p in [aws_iam_role_policy.bot.policy, aws_iam_role_policy.bot_execution.policy, aws_iam_role_policy.interview_execution.policy] : [
        for s in jsondecode(p).Statement : [
          for r in flatten([s.Resource]) : (
            r == "*" ? alltrue([for a in flatten([s.Action]) : contains(output.unscoped_actions, a)]) :
            can(regex(":kms:", r)) ? s.Condition.StringEquals["kms:ViaService"] == "ssm.us-east-1.amazonaws.com" :
            strcontains(r, "prequel-prod") || strcontains(r, "/prequel/prod/") || endswith(r, "parameter/prequel/prod/interviews")
          )
        ] if s.Effect == "Allow"
      ]
    ]))
    error_message = "an IAM grant reaches beyond {prefix}-{environment} (or a `*` resource holds an action AWS can scope)"
  }
  assert {
    condition     = length(output.unscoped_actions) == 10
    error_message = "the list of unscoped actions changed: justify the new one in main.tf and here"
  }
}

run "interview_tasks_read_only_their_passwords" {
  assert {
    condition = [
      for s in jsondecode(aws_iam_role_policy.interview_execution.policy).Statement : s.Resource if s.Sid == "ReadSecrets"
    ] == ["arn:aws:ssm:us-east-1:123456789012:parameter/prequel/prod/interviews/*"]
    error_message = "the interview execution role reads /{prefix}/{environment}/interviews/* and nothing else"
  }
  assert {
    condition = [
      for s in jsondecode(aws_iam_role_policy.interview_execution.policy).Statement : s.Resource if s.Sid == "PullImage"
    ] == ["arn:aws:ecr:us-east-1:123456789012:repository/prequel-prod-instance"]
    error_message = "interview tasks pull only the instance image"
  }
  assert {
    condition = [
      for s in jsondecode(aws_iam_role_policy.bot_execution.policy).Statement : s.Resource if s.Sid == "ReadSecrets"
    ] == ["arn:aws:ssm:us-east-1:123456789012:parameter/prequel/prod/bot/*"]
    error_message = "the bot's execution role reads /{prefix}/{environment}/bot/* and nothing else"
  }
}

run "interview_tasks_hold_no_aws_permission_by_default" {
  assert {
    condition     = length(aws_iam_role.interview_task) == 0 && output.interview_task_role_arn == ""
    error_message = "no interview task role unless asked for"
  }
}

run "the_bot_passes_only_the_interview_roles_to_ecs" {
  assert {
    condition = [
      for s in jsondecode(aws_iam_role_policy.bot.policy).Statement : [s.Resource, s.Condition.StringEquals["iam:PassedToService"]] if contains(flatten([s.Action]), "iam:PassRole")
    ] == [[["arn:aws:iam::123456789012:role/prequel-prod-interview-execution"], "ecs-tasks.amazonaws.com"]]
    error_message = "iam:PassRole only on the interview execution role, only to ECS tasks"
  }
  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.bot.policy).Statement : s.Condition.ArnEquals["ecs:cluster"] == "arn:aws:ecs:us-east-1:123456789012:cluster/prequel-prod"
      if contains(flatten([s.Action]), "ecs:RunTask") && s.Effect == "Allow"
    ])
    error_message = "RunTask only in the deployment's cluster"
  }
}

run "the_bot_has_what_the_provisioner_calls" {
  assert {
    condition = length(setsubtract([
      "ecs:RegisterTaskDefinition", "ecs:DeregisterTaskDefinition", "ecs:DeleteTaskDefinitions", "ecs:RunTask",
      "ecs:StopTask", "ecs:DescribeTasks", "ecs:ListTasks", "ecs:DescribeTaskDefinition", "ecs:DescribeClusters",
      "ecs:TagResource", "iam:PassRole",
      "elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:DeleteTargetGroup",
      "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets",
      "elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteRule", "elasticloadbalancing:DescribeRules",
      "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth",
      "elasticloadbalancing:DescribeTags", "elasticloadbalancing:AddTags", "elasticloadbalancing:DescribeListeners",
      "ssm:PutParameter", "ssm:GetParameter", "ssm:DeleteParameter", "ssm:AddTagsToResource", "ssm:GetParametersByPath",
      "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:BatchGetItem",
      "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive",
      "s3:GetObject", "s3:PutObject", "s3:ListBucket",
    ], flatten([for s in jsondecode(aws_iam_role_policy.bot.policy).Statement : flatten([s.Action]) if s.Effect == "Allow"]))) == 0
    error_message = "an action the AWS backends call is missing from the bot's policy"
  }
  assert {
    condition = length(setintersection(
      ["dynamodb:CreateTable", "dynamodb:DeleteTable", "s3:DeleteBucket", "iam:CreateRole", "ecs:CreateService", "ssm:GetParametersByPath"],
      flatten([for s in jsondecode(aws_iam_role_policy.bot.policy).Statement : flatten([s.Action]) if s.Effect == "Allow" && s.Resource == "*"])
    )) == 0
    error_message = "no administrative action on *"
  }
}

run "the_bot_cannot_touch_its_own_routing" {
  assert {
    condition = [
      for s in jsondecode(aws_iam_role_policy.bot.policy).Statement : s.Resource if s.Effect == "Deny"
      ] == [[
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/prequel-prod-bot/73e2d6bc24d8a067",
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/prequel-prod/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee",
        "arn:aws:ecs:us-east-1:123456789012:task-definition/prequel-prod-bot:*",
    ]]
    error_message = "the bot's own target group, rule and task family are denied to it"
  }
}

run "only_ecs_tasks_of_this_account_assume_the_roles" {
  assert {
    condition = alltrue([for r in [aws_iam_role.bot, aws_iam_role.bot_execution, aws_iam_role.interview_execution] :
      jsondecode(r.assume_role_policy).Statement[0].Principal.Service == "ecs-tasks.amazonaws.com" &&
      jsondecode(r.assume_role_policy).Statement[0].Condition.StringEquals["aws:SourceAccount"] == "123456789012"
    ])
    error_message = "roles are assumable by ECS tasks of this account only"
  }
}

run "an_optional_interview_task_role_has_no_policy" {
  variables {
    interview_task_role = true
  }
  assert {
    condition     = length(aws_iam_role.interview_task) == 1 && output.interview_task_role_arn != ""
    error_message = "the task role is created when asked for"
  }
  assert {
    condition     = length(flatten([for s in jsondecode(aws_iam_role_policy.bot.policy).Statement : flatten([s.Resource]) if s.Sid == "PassInterviewRoles"])) == 2
    error_message = "the bot may then pass it too"
  }
}

run "roles_are_tagged_with_the_deployment" {
  assert {
    condition     = alltrue([for r in [aws_iam_role.bot, aws_iam_role.bot_execution, aws_iam_role.interview_execution] : r.tags["prequel:deployment"] == "prequel-prod"])
    error_message = "every role carries prequel:deployment"
  }
}
