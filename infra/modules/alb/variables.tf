variable "name" {
  description = "The deployment's stem, `{prefix}-{environment}`: every resource name starts with it."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.name)) && length(var.name) <= 19
    error_message = "name must be `{prefix}-{environment}`: lowercase letters, digits and `-`, at most 19 characters."
  }
}

variable "vpc_id" {
  description = "The VPC the load balancer and its target groups live in."
  type        = string
}

variable "subnet_ids" {
  description = "Two public subnets in different availability zones."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "an application load balancer needs subnets in at least two availability zones."
  }
}

variable "domain" {
  description = "Interviews are served at `{id}.{domain}`; the certificate covers `*.{domain}`."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", var.domain))
    error_message = "domain must be a lowercase DNS name such as interviews.example.com."
  }
}

variable "bot_host" {
  description = "The host name Slack and Discord call the bot at; null means `bot.{domain}`."
  type        = string
  default     = null
}

variable "certificate_arn" {
  description = "An issued ACM certificate covering `*.{domain}`; null requests one (DNS-validated; in Route 53 when route53_zone_id is set)."
  type        = string
  default     = null

  validation {
    condition     = var.certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}

variable "route53_zone_id" {
  description = "A Route 53 hosted zone for the domain: when set, the certificate is validated there and `*.{domain}` points at the load balancer. Null: create those records yourself (outputs certificate_validation_records and alb_dns_name)."
  type        = string
  default     = null
}

variable "ssl_policy" {
  description = "The HTTPS listener's TLS policy."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "idle_timeout" {
  description = "Seconds a connection may stay idle (code-server keeps its websocket alive with pings well within this)."
  type        = number
  default     = 120
}

variable "deletion_protection" {
  description = "Refuse to delete the load balancer (turn off before `terraform destroy`)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for every resource (the root passes `prequel:deployment = {prefix}-{environment}`)."
  type        = map(string)
  default     = {}
}
