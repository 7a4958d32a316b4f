# Least-privilege roles, every resource scoped to `{prefix}-{environment}` (names) or
# `/{prefix}/{environment}/` (SSM paths and log groups):
#
#   {stem}-interview-execution  ECS pulls the interview image, writes its log, resolves PASSWORD
#   {stem}-bot-execution        ECS pulls the bot image, writes its log, resolves the bot's secrets
#   {stem}-bot                  the bot itself: tables, buckets, passwords, tasks, listener rules
#   {stem}-interview-task       only with interview_task_role = true, and without any policy
#
# `"Resource": "*"` appears only for actions that AWS does not scope to a resource; they are
# listed in local.unscoped_actions, and the tests check that nothing else is unscoped.

locals {
  stem      = "${var.prefix}-${var.environment}"
  path      = "/${var.prefix}/${var.environment}"
  arn       = "arn:${var.partition}"
  in_region = "${var.region}:${var.account_id}"

  cluster_arn          = "${local.arn}:ecs:${local.in_region}:cluster/${local.stem}"
  task_arns            = "${local.arn}:ecs:${local.in_region}:task/${local.stem}/*"
  task_definition_arns = "${local.arn}:ecs:${local.in_region}:task-definition/${local.stem}-*:*"
  bot_task_definitions = "${local.arn}:ecs:${local.in_region}:task-definition/${local.stem}-bot:*"
  table_arns           = [for t in ["interviews", "operations"] : "${local.arn}:dynamodb:${local.in_region}:table/${local.stem}-${t}"]
  bucket_arn           = { for b in ["challenges", "history"] : b => "${local.arn}:s3:::${local.stem}-${b}" }
  parameter_arn        = "${local.arn}:ssm:${local.in_region}:parameter${local.path}"
  log_group_arn        = "${local.arn}:logs:${local.in_region}:log-group:${local.path}"
  repository_arn       = "${local.arn}:ecr:${local.in_region}:repository/${local.stem}"
  target_group_arns    = "${local.arn}:elasticloadbalancing:${local.in_region}:targetgroup/${local.stem}-*/*"
  # listener/app/{alb}/{alb-id}/{listener-id} → listener-rule/app/{alb}/{alb-id}/{listener-id}/*
  listener_rule_arns = "${replace(var.alb_listener_arn, ":listener/", ":listener-rule/")}/*"
  # The AWS-managed aws/ssm key's id is random; kms:ViaService limits its use to SSM calls, which
  # the statements above limit to this deployment's parameters.
  ssm_key_arns = "${local.arn}:kms:${local.in_region}:key/*"

  # Actions AWS authorizes only with `"Resource": "*"` (no resource-level permissions), or
  # read-only listings that return ids only.
  unscoped_actions = [
    "ecr:GetAuthorizationToken",
    "ecs:RegisterTaskDefinition",
    "ecs:DeregisterTaskDefinition",
    "ecs:DescribeTaskDefinition",
    "ecs:ListTasks",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeListeners",
  ]

  assume_ecs_tasks = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = var.account_id }
        ArnLike      = { "aws:SourceArn" = "${local.arn}:ecs:${local.in_region}:*" }
      }
    }]
  })

  # What ECS needs to start a task: the image, the log stream, the secrets.
  execution_policy = { for who, what in {
    interview = { repository = "instance", logs = "interviews", secrets = "interviews" }
    bot       = { repository = "bot", logs = "bot", secrets = "bot" }
    } : who => jsonencode({
      Version = "2012-10-17"
      Statement = [
        {
          Sid      = "EcrLogin"
          Effect   = "Allow"
          Action   = ["ecr:GetAuthorizationToken"]
          Resource = "*"
        },
        {
          Sid      = "PullImage"
          Effect   = "Allow"
          Action   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
          Resource = "${local.repository_arn}-${what.repository}"
        },
        {
          Sid      = "WriteLog"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = "${local.log_group_arn}/${what.logs}:*"
        },
        {
          Sid      = "ReadSecrets"
          Effect   = "Allow"
          Action   = ["ssm:GetParameters"]
          Resource = "${local.parameter_arn}/${what.secrets}/*"
        },
        {
          Sid       = "DecryptSecretsViaSsm"
          Effect    = "Allow"
          Action    = ["kms:Decrypt"]
          Resource  = local.ssm_key_arns
          Condition = { StringEquals = { "kms:ViaService" = "ssm.${var.region}.amazonaws.com" } }
        },
      ]
  }) }

  bot_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "Store"
        Effect = "Allow"
        Action = [
          "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem",
          "dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive",
          "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem",
        ]
        Resource = concat(local.table_arns, [for t in local.table_arns : "${t}/index/*"])
      },
      {
        Sid      = "ListBuckets"
        Effect   = "Allow"
        Action   = ["s3:ListBucket"]
        Resource = values(local.bucket_arn)
      },
      {
        Sid      = "ReadChallenges"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = "${local.bucket_arn["challenges"]}/*"
      },
      {
        # Presigned PUTs (the instance uploads its archive) and GETs (the interviewer's link).
        Sid      = "Archives"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject"]
        Resource = "${local.bucket_arn["history"]}/*"
      },
      {
        Sid    = "InterviewPasswords"
        Effect = "Allow"
        Action = [
          "ssm:AddTagsToResource", "ssm:DeleteParameter", "ssm:GetParameter", "ssm:GetParameters",
          "ssm:ListTagsForResource", "ssm:PutParameter",
        ]
        Resource = "${local.parameter_arn}/interviews/*"
      },
      {
        Sid      = "ListInterviewPasswords"
        Effect   = "Allow"
        Action   = ["ssm:GetParametersByPath"]
        Resource = ["${local.parameter_arn}/interviews", "${local.parameter_arn}/interviews/*"]
      },
      {
        Sid       = "EncryptPasswordsViaSsm"
        Effect    = "Allow"
        Action    = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
        Resource  = local.ssm_key_arns
        Condition = { StringEquals = { "kms:ViaService" = "ssm.${var.region}.amazonaws.com" } }
      },
      {
        Sid       = "RunInterviews"
        Effect    = "Allow"
        Action    = ["ecs:RunTask"]
        Resource  = local.task_definition_arns
        Condition = { ArnEquals = { "ecs:cluster" = local.cluster_arn } }
      },
      {
        Sid      = "ManageInterviewTasks"
        Effect   = "Allow"
        Action   = ["ecs:DescribeTasks", "ecs:StopTask"]
        Resource = local.task_arns
      },
      {
        Sid      = "TagInterviewResources"
        Effect   = "Allow"
        Action   = ["ecs:TagResource"]
        Resource = [local.task_arns, local.task_definition_arns]
      },
      {
        Sid      = "DeleteInterviewRevisions"
        Effect   = "Allow"
        Action   = ["ecs:DeleteTaskDefinitions"]
        Resource = local.task_definition_arns
      },
      {
        Sid      = "DescribeCluster"
        Effect   = "Allow"
        Action   = ["ecs:DescribeClusters"]
        Resource = local.cluster_arn
      },
      {
        Sid    = "PassInterviewRoles"
        Effect = "Allow"
        Action = ["iam:PassRole"]
        Resource = concat(
          [aws_iam_role.interview_execution.arn],
          [for r in aws_iam_role.interview_task : r.arn],
        )
        Condition = { StringEquals = { "iam:PassedToService" = "ecs-tasks.amazonaws.com" } }
      },
      {
        Sid    = "InterviewTargetGroups"
        Effect = "Allow"
        Action = [
          "elasticloadbalancing:AddTags", "elasticloadbalancing:CreateTargetGroup",
          "elasticloadbalancing:DeleteTargetGroup", "elasticloadbalancing:DeregisterTargets",
          "elasticloadbalancing:RegisterTargets",
        ]
        Resource = local.target_group_arns
      },
      {
        Sid      = "CreateInterviewRules"
        Effect   = "Allow"
        Action   = ["elasticloadbalancing:CreateRule"]
        Resource = var.alb_listener_arn
      },
      {
        Sid      = "ManageInterviewRules"
        Effect   = "Allow"
        Action   = ["elasticloadbalancing:AddTags", "elasticloadbalancing:DeleteRule"]
        Resource = local.listener_rule_arns
      },
      {
        Sid      = "Unscoped"
        Effect   = "Allow"
        Action   = [for a in local.unscoped_actions : a if a != "ecr:GetAuthorizationToken"]
        Resource = "*"
      },
      {
        # `{stem}-*` also matches the bot's own target group, rule and task family: hands off.
        Sid    = "NotTheBotItself"
        Effect = "Deny"
        Action = [
          "elasticloadbalancing:DeleteTargetGroup", "elasticloadbalancing:DeregisterTargets",
          "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeleteRule",
          "ecs:RunTask", "ecs:DeleteTaskDefinitions",
        ]
        Resource = [var.bot_target_group_arn, var.bot_listener_rule_arn, local.bot_task_definitions]
      },
    ]
  })
}

resource "aws_iam_role" "interview_execution" {
  name                 = "${local.stem}-interview-execution"
  description          = "ECS starts Prequel interview tasks with it (image pull, log, PASSWORD secret)."
  assume_role_policy   = local.assume_ecs_tasks
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "interview_execution" {
  name   = "start-interview-tasks"
  role   = aws_iam_role.interview_execution.id
  policy = local.execution_policy["interview"]
}

resource "aws_iam_role" "interview_task" {
  count              = var.interview_task_role ? 1 : 0
  name               = "${local.stem}-interview-task"
  description        = "The identity of interview tasks: deliberately without any policy (the candidate has a shell)."
  assume_role_policy = local.assume_ecs_tasks
  tags               = var.tags
}

resource "aws_iam_role" "bot_execution" {
  name               = "${local.stem}-bot-execution"
  description        = "ECS starts the Prequel bot with it (image pull, log, the bot's secrets)."
  assume_role_policy = local.assume_ecs_tasks
  tags               = var.tags
}

resource "aws_iam_role_policy" "bot_execution" {
  name   = "start-the-bot"
  role   = aws_iam_role.bot_execution.id
  policy = local.execution_policy["bot"]
}

resource "aws_iam_role" "bot" {
  name               = "${local.stem}-bot"
  description        = "The Prequel bot: its tables, buckets, interview passwords, tasks and listener rules."
  assume_role_policy = local.assume_ecs_tasks
  tags               = var.tags
}

resource "aws_iam_role_policy" "bot" {
  name   = "run-interviews"
  role   = aws_iam_role.bot.id
  policy = local.bot_policy
}
