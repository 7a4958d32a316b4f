output "service_name" {
  description = "The bot's ECS service."
  value       = aws_ecs_service.bot.name
}

output "task_definition_arn" {
  description = "The bot's current task definition revision."
  value       = aws_ecs_task_definition.bot.arn
}

output "environment" {
  description = "The environment the bot's container gets (no secret is in it)."
  value       = local.environment
}
