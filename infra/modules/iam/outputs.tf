output "interview_execution_role_arn" {
  description = "The execution role of interview tasks (PREQUEL_EXECUTION_ROLE_ARN)."
  value       = aws_iam_role.interview_execution.arn
}

output "interview_task_role_arn" {
  description = "The task role of interview tasks (PREQUEL_TASK_ROLE_ARN): empty unless interview_task_role is on."
  value       = var.interview_task_role ? aws_iam_role.interview_task[0].arn : ""
}

output "bot_execution_role_arn" {
  description = "The bot's execution role."
  value       = aws_iam_role.bot_execution.arn
}

output "bot_task_role_arn" {
  description = "The bot's task role."
  value       = aws_iam_role.bot.arn
}

output "unscoped_actions" {
  description = "The only actions granted on `*`, each because AWS offers no resource-level permission for it."
  value       = local.unscoped_actions
}
