output "interviews_table_name" {
  description = "The interviews table."
  value       = aws_dynamodb_table.this["interviews"].name
}

output "operations_table_name" {
  description = "The operations table."
  value       = aws_dynamodb_table.this["operations"].name
}

output "table_arns" {
  description = "Both tables' ARNs."
  value       = [for t in aws_dynamodb_table.this : t.arn]
}

output "challenges_bucket" {
  description = "The bucket `prequel challenges sync` fills and instances read starter files from."
  value       = aws_s3_bucket.this["challenges"].bucket
}

output "challenges_bucket_arn" {
  description = "The challenges bucket's ARN."
  value       = aws_s3_bucket.this["challenges"].arn
}

output "history_bucket" {
  description = "The bucket of archived workspaces."
  value       = aws_s3_bucket.this["history"].bucket
}

output "history_bucket_arn" {
  description = "The history bucket's ARN."
  value       = aws_s3_bucket.this["history"].arn
}

output "bot_secret_arns" {
  description = "ECS secret name => SSM parameter ARN, for the bot's container definition."
  value       = { for k, p in aws_ssm_parameter.bot : k => p.arn }
}

output "bot_secret_names" {
  description = "ECS secret name => SSM parameter name, for `aws ssm put-parameter`."
  value       = { for k, p in aws_ssm_parameter.bot : k => p.name }
}
