variable "prefix" {
  description = "The first part of every name (PREQUEL_PREFIX)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([a-z0-9]|-[a-z0-9])*$", var.prefix))
    error_message = "prefix: lowercase letters, digits and single `-`, starting with a letter, not ending with `-`."
  }
}

variable "environment" {
  description = "The second part of every name (PREQUEL_ENVIRONMENT)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([a-z0-9]|-[a-z0-9])*$", var.environment))
    error_message = "environment: lowercase letters, digits and single `-`, starting with a letter, not ending with `-`."
  }
}

variable "partition" {
  description = "The AWS partition (`aws`, `aws-cn`, `aws-us-gov`)."
  type        = string
  default     = "aws"
}

variable "region" {
  description = "The region everything lives in."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must look like us-east-1."
  }
}

variable "account_id" {
  description = "The AWS account id (12 digits)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be 12 digits."
  }
}

variable "alb_listener_arn" {
  description = "The shared HTTPS listener: the bot adds and deletes one rule per interview on it."
  type        = string

  validation {
    condition     = can(regex("^arn:[a-z-]+:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:listener/app/", var.alb_listener_arn))
    error_message = "alb_listener_arn must be an application load balancer listener ARN."
  }
}

variable "bot_target_group_arn" {
  description = "The bot's own target group, which the bot must not touch (its name also starts with `{prefix}-{environment}-`)."
  type        = string
}

variable "bot_listener_rule_arn" {
  description = "The listener rule routing the bot's host, which the bot must not delete."
  type        = string
}

variable "interview_task_role" {
  description = "Create an (empty) task role for interview tasks. Off by default: the candidate has a shell in the task, so it must hold no AWS permission."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource (the root passes `prequel:deployment = {prefix}-{environment}`)."
  type        = map(string)
  default     = {}
}
