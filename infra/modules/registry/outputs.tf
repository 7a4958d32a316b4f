output "instance_repository_url" {
  description = "Where to push the interview image (`docker push {url}:{tag}`)."
  value       = aws_ecr_repository.this["instance"].repository_url
}

output "instance_repository_arn" {
  description = "The interview image repository's ARN."
  value       = aws_ecr_repository.this["instance"].arn
}

output "bot_repository_url" {
  description = "Where to push the bot image."
  value       = aws_ecr_repository.this["bot"].repository_url
}

output "bot_repository_arn" {
  description = "The bot image repository's ARN."
  value       = aws_ecr_repository.this["bot"].arn
}
