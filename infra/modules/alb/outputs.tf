output "alb_arn" {
  description = "The load balancer's ARN."
  value       = aws_lb.this.arn
}

output "alb_dns_name" {
  description = "The load balancer's DNS name: point `*.{domain}` at it (an alias record) when Route 53 does not."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "The load balancer's hosted zone id, for alias records."
  value       = aws_lb.this.zone_id
}

output "https_listener_arn" {
  description = "The shared HTTPS listener the bot adds one rule per interview to."
  value       = aws_lb_listener.https.arn
}

output "security_group_id" {
  description = "The load balancer's security group: the only source interview and bot tasks accept 8080 from."
  value       = aws_security_group.alb.id
}

output "bot_target_group_arn" {
  description = "The target group of the bot's service."
  value       = aws_lb_target_group.bot.arn
}

output "bot_host" {
  description = "The host name the bot is served at."
  value       = local.bot_host
}

output "certificate_validation_records" {
  description = "DNS records that validate the requested certificate, when no Route 53 zone was given (create them at your DNS provider)."
  value = local.create_cert && var.route53_zone_id == null ? [
    for o in aws_acm_certificate.this[0].domain_validation_options : {
      name  = o.resource_record_name
      type  = o.resource_record_type
      value = o.resource_record_value
    }
  ] : []
}

output "bot_listener_rule_arn" {
  description = "The listener rule routing the bot's host (priority 1)."
  value       = aws_lb_listener_rule.bot.arn
}
