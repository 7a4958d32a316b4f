output "cluster_name" {
  description = "The ECS cluster's name."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "The ECS cluster's ARN."
  value       = aws_ecs_cluster.this.arn
}

output "interview_security_group_id" {
  description = "The security group every interview task gets."
  value       = aws_security_group.interviews.id
}

output "bot_security_group_id" {
  description = "The bot task's security group."
  value       = aws_security_group.bot.id
}

output "interview_log_group_name" {
  description = "The interview containers' log group."
  value       = aws_cloudwatch_log_group.interviews.name
}

output "interview_log_group_arn" {
  description = "The interview containers' log group ARN."
  value       = aws_cloudwatch_log_group.interviews.arn
}

output "bot_log_group_name" {
  description = "The bot's log group."
  value       = aws_cloudwatch_log_group.bot.name
}

output "bot_log_group_arn" {
  description = "The bot's log group ARN."
  value       = aws_cloudwatch_log_group.bot.arn
}
