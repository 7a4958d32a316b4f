# The shared application load balancer: one for the deployment, whatever the number of interviews.
# HTTP only redirects to HTTPS; the HTTPS listener answers 404 unless a rule matches: priority 1
# routes the bot's host to the bot, and the bot adds one rule per interview (`{id}.{domain}` to the
# interview's own target group, lowest free priority) and removes it at destroy.

locals {
  bot_host        = coalesce(var.bot_host, "bot.${var.domain}")
  create_cert     = var.certificate_arn == null
  certificate_arn = local.create_cert ? (var.route53_zone_id != null ? aws_acm_certificate_validation.this[0].certificate_arn : aws_acm_certificate.this[0].arn) : var.certificate_arn
}

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "The shared load balancer: HTTPS (and HTTP, which only redirects) from anywhere"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-alb" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "https" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from anywhere: candidates, interviewers, Slack and Discord"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
  tags              = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "http" {
  #checkov:skip=CKV_AWS_260: port 80 is open only so that http:// links reach the listener that answers 301 to https://; it forwards nothing.
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from anywhere, answered only with a redirect to HTTPS"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
  tags              = var.tags
}

# Egress to the tasks (8080 to the interview and bot security groups) is declared by the cluster
# module, which owns those groups; this group starts with no egress at all.

resource "aws_lb" "this" {
  #checkov:skip=CKV_AWS_91: access logs need another bucket and its storage; code-server and the bot log requests themselves. Enable with access_logs { } when an audit trail of every request is wanted.
  #checkov:skip=CKV2_AWS_28: AWS WAF costs $5/month plus $1 per rule — over the $20/month base budget. The only public surfaces are code-server's password login and the bot's signed Slack/Discord endpoints.
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = false
  security_groups            = [aws_security_group.alb.id]
  subnets                    = var.subnet_ids
  idle_timeout               = var.idle_timeout
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection

  tags = merge(var.tags, { Name = var.name })
}

resource "aws_acm_certificate" "this" {
  count                     = local.create_cert ? 1 : 0
  domain_name               = "*.${var.domain}"
  subject_alternative_names = [var.domain]
  validation_method         = "DNS"
  tags                      = merge(var.tags, { Name = var.name })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "validation" {
  # The wildcard and the apex share one validation record.
  for_each = local.create_cert && var.route53_zone_id != null ? {
    for o in aws_acm_certificate.this[0].domain_validation_options : o.resource_record_name => o...
  } : {}
  zone_id         = var.route53_zone_id
  name            = each.value[0].resource_record_name
  type            = each.value[0].resource_record_type
  records         = [each.value[0].resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "this" {
  count                   = local.create_cert && var.route53_zone_id != null ? 1 : 0
  certificate_arn         = aws_acm_certificate.this[0].arn
  validation_record_fqdns = [for r in aws_route53_record.validation : r.fqdn]
}

resource "aws_route53_record" "wildcard" {
  # `*.{domain}` covers the bot's host and every interview's.
  count   = var.route53_zone_id != null ? 1 : 0
  zone_id = var.route53_zone_id
  name    = "*.${var.domain}"
  type    = "A"

  alias {
    name                   = aws_lb.this.dns_name
    zone_id                = aws_lb.this.zone_id
    evaluate_target_health = false
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"
  tags              = var.tags

  default_action {
    type = "redirect"

    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = local.certificate_arn
  tags              = var.tags

  default_action {
    type = "fixed-response"

    fixed_response {
      content_type = "text/plain"
      message_body = "no interview here"
      status_code  = "404"
    }
  }
}

resource "aws_lb_target_group" "bot" {
  #checkov:skip=CKV_AWS_378: TLS ends at the load balancer; the hop to the task stays inside the VPC, between security groups that admit only the ALB (the bot's per-interview target groups are HTTP to code-server for the same reason).
  name                 = "${var.name}-bot"
  vpc_id               = var.vpc_id
  target_type          = "ip"
  protocol             = "HTTP"
  port                 = 8080
  deregistration_delay = 30
  tags                 = merge(var.tags, { Name = "${var.name}-bot" })

  health_check {
    path                = "/healthz"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener_rule" "bot" {
  listener_arn = aws_lb_listener.https.arn
  # Fixed at 1; the bot's per-interview rules take the lowest free priority from 2 up.
  priority = 1
  tags     = var.tags

  condition {
    host_header {
      values = [local.bot_host]
    }
  }

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.bot.arn
  }
}
