mock_provider "aws" {
  mock_resource "aws_lb" {
    defaults = {
      arn      = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/prequel-prod/50dc6c495c0c9188"
      dns_name = "prequel-prod-1234567890.us-east-1.elb.amazonaws.com"
      zone_id  = "Z35SXDOTRQ7X7K"
    }
  }
  mock_resource "aws_lb_listener" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/prequel-prod/50dc6c495c0c9188/f2f7dc8efc522ab2"
    }
  }
  mock_resource "aws_lb_target_group" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/prequel-prod-bot/73e2d6bc24d8a067"
    }
  }
  mock_resource "aws_acm_certificate" {
    defaults = {
      arn = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
      domain_validation_options = [
        {
          domain_name           = "*.interviews.example.com"
          resource_record_name  = "_x1.interviews.example.com."
          resource_record_type  = "CNAME"
          resource_record_value = "_x2.acm-validations.aws."
        },
        {
          domain_name           = "interviews.example.com"
          resource_record_name  = "_x1.interviews.example.com."
          resource_record_type  = "CNAME"
          resource_record_value = "_x2.acm-validations.aws."
        },
      ]
    }
  }
  mock_resource "aws_acm_certificate_validation" {
    defaults = {
      certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
    }
  }
}

variables {
  name       = "prequel-prod"
  vpc_id     = "vpc-0123456789abcdef0"
  subnet_ids = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
  domain     = "interviews.example.com"
  tags       = { "prequel:deployment" = "prequel-prod" }
}

run "http_only_redirects_to_https" {
  assert {
    condition     = aws_lb_listener.http.port == 80 && aws_lb_listener.http.default_action[0].type == "redirect"
    error_message = "the HTTP listener must redirect"
  }
  assert {
    condition = (
      aws_lb_listener.http.default_action[0].redirect[0].protocol == "HTTPS" &&
      aws_lb_listener.http.default_action[0].redirect[0].port == "443" &&
      aws_lb_listener.http.default_action[0].redirect[0].status_code == "HTTP_301"
    )
    error_message = "the redirect goes to HTTPS on 443, permanently"
  }
}

run "https_uses_tls_1_2_or_newer_and_answers_404_by_default" {
  assert {
    condition     = aws_lb_listener.https.protocol == "HTTPS" && aws_lb_listener.https.port == 443
    error_message = "HTTPS on 443"
  }
  assert {
    condition     = startswith(aws_lb_listener.https.ssl_policy, "ELBSecurityPolicy-TLS13-1-2")
    error_message = "TLS 1.2+ policy expected"
  }
  assert {
    condition     = aws_lb_listener.https.default_action[0].fixed_response[0].status_code == "404"
    error_message = "an unknown host gets 404, never a backend"
  }
  assert {
    condition     = aws_lb.this.drop_invalid_header_fields && !aws_lb.this.internal
    error_message = "internet-facing, dropping invalid headers"
  }
}

run "the_certificate_covers_the_wildcard_host" {
  assert {
    condition     = aws_acm_certificate.this[0].domain_name == "*.interviews.example.com"
    error_message = "the certificate must cover *.{domain}"
  }
  assert {
    condition     = aws_lb_listener.https.certificate_arn == aws_acm_certificate.this[0].arn
    error_message = "the listener uses the requested certificate"
  }
  assert {
    condition     = length(output.certificate_validation_records) == 2
    error_message = "without a zone, the validation records are handed out"
  }
}

run "the_bot_is_routed_at_priority_1_by_host" {
  assert {
    condition     = aws_lb_listener_rule.bot.priority == 1
    error_message = "the bot's rule has the fixed priority 1"
  }
  assert {
    condition     = one(one(aws_lb_listener_rule.bot.condition).host_header[0].values) == "bot.interviews.example.com"
    error_message = "the bot is served at bot.{domain}"
  }
  assert {
    condition = (
      aws_lb_target_group.bot.target_type == "ip" && aws_lb_target_group.bot.port == 8080 &&
      aws_lb_target_group.bot.health_check[0].path == "/healthz"
    )
    error_message = "the bot's target group: ip targets on 8080, health at /healthz"
  }
}

run "only_https_and_the_redirect_are_open" {
  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.https.from_port == 443 &&
      aws_vpc_security_group_ingress_rule.http.from_port == 80 &&
      aws_vpc_security_group_ingress_rule.https.to_port == 443 &&
      aws_vpc_security_group_ingress_rule.http.to_port == 80
    )
    error_message = "the load balancer accepts 80 and 443 only"
  }
}

run "route53_validates_and_points_the_wildcard" {
  variables {
    route53_zone_id = "Z0123456789ABCDEFGHIJ"
    bot_host        = "prequel.example.com"
  }

  assert {
    condition     = length(aws_route53_record.validation) == 1
    error_message = "the wildcard and apex share one validation record"
  }
  assert {
    condition     = aws_route53_record.wildcard[0].name == "*.interviews.example.com"
    error_message = "*.{domain} points at the load balancer"
  }
  assert {
    condition     = aws_lb_listener.https.certificate_arn == aws_acm_certificate_validation.this[0].certificate_arn
    error_message = "the listener waits for the validated certificate"
  }
  assert {
    condition     = output.bot_host == "prequel.example.com"
    error_message = "the bot's host can be set"
  }
}

run "an_existing_certificate_is_used_as_is" {
  variables {
    certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  }

  assert {
    condition     = length(aws_acm_certificate.this) == 0
    error_message = "no certificate is requested when one is given"
  }
  assert {
    condition     = aws_lb_listener.https.certificate_arn == "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
    error_message = "the given certificate is used"
  }
}

run "a_bad_domain_is_refused" {
  command = plan
  variables {
    domain = "Not A Domain"
  }
  expect_failures = [var.domain]
}

run "everything_is_tagged_with_the_deployment" {
  assert {
    condition = alltrue([for t in [
      aws_lb.this.tags, aws_security_group.alb.tags, aws_lb_listener.http.tags, aws_lb_listener.https.tags,
      aws_lb_target_group.bot.tags, aws_lb_listener_rule.bot.tags, aws_acm_certificate.this[0].tags,
    ] : t["prequel:deployment"] == "prequel-prod"])
    error_message = "every resource carries prequel:deployment"
  }
}
