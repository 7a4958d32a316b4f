variable "region" {
  description = "The AWS region of the whole deployment."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must look like us-east-1."
  }
}

variable "prefix" {
  description = "The first part of every resource name (the bot's PREQUEL_PREFIX). Bucket names are global: pick one that is yours."
  type        = string
  default     = "prequel"

  validation {
    condition     = can(regex("^[a-z]([a-z0-9]|-[a-z0-9])*$", var.prefix))
    error_message = "prefix: lowercase letters, digits and single `-`, starting with a letter, not ending with `-`."
  }
}

variable "environment" {
  description = "The second part of every resource name (the bot's PREQUEL_ENVIRONMENT): prod, staging, …"
  type        = string
  default     = "prod"

  validation {
    condition     = can(regex("^[a-z]([a-z0-9]|-[a-z0-9])*$", var.environment))
    error_message = "environment: lowercase letters, digits and single `-`, starting with a letter, not ending with `-`."
  }

  validation {
    condition     = length(var.prefix) + length(var.environment) <= 18
    error_message = "prefix and environment together must be at most 18 characters (target group names `{prefix}-{environment}-{interview id}` are limited to 32)."
  }
}

variable "domain" {
  description = "Interviews are served at `{id}.{domain}` and the bot at `bot.{domain}` (PREQUEL_DOMAIN)."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", var.domain))
    error_message = "domain must be a lowercase DNS name such as interviews.example.com."
  }
}

variable "bot_host" {
  description = "The host Slack and Discord call the bot at; null means `bot.{domain}`."
  type        = string
  default     = null
}

variable "route53_zone_id" {
  description = "A Route 53 hosted zone serving the domain: the certificate is then validated and `*.{domain}` pointed at the load balancer automatically. Null: create those DNS records yourself."
  type        = string
  default     = null
}

variable "certificate_arn" {
  description = "An existing ACM certificate for `*.{domain}`; null requests one."
  type        = string
  default     = null
}

variable "vpc_cidr" {
  description = "The VPC's IPv4 range."
  type        = string
  default     = "10.42.0.0/16"
}

variable "instance_image_tag" {
  description = "The tag of the interview image in the `{prefix}-{environment}-instance` repository (tags are immutable: push a new one to upgrade)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.instance_image_tag))
    error_message = "instance_image_tag must be a Docker tag."
  }
}

variable "bot_image_tag" {
  description = "The tag of the bot image in the `{prefix}-{environment}-bot` repository."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.bot_image_tag))
    error_message = "bot_image_tag must be a Docker tag."
  }
}

variable "slack_enabled" {
  description = "Serve the Slack frontend (creates the SSM parameters of its signing secret and bot token)."
  type        = bool
  default     = true
}

variable "discord_enabled" {
  description = "Serve the Discord frontend (creates the SSM parameters of its public key, bot token and application id)."
  type        = bool
  default     = false
}

variable "bot_environment" {
  description = "More environment variables for the bot, e.g. PREQUEL_SLACK_ALLOWED_CHANNELS or PREQUEL_TZ."
  type        = map(string)
  default     = {}
}

variable "bot_cpu" {
  description = "The bot task's CPU units."
  type        = number
  default     = 256
}

variable "bot_memory" {
  description = "The bot task's memory (MiB)."
  type        = number
  default     = 512
}

variable "bot_architecture" {
  description = "X86_64 (default, runs on Fargate Spot) or ARM64 (on-demand only)."
  type        = string
  default     = "X86_64"
}

variable "bot_capacity_provider" {
  description = "FARGATE_SPOT (default) or FARGATE for the bot's task; interviews use what the bot's configuration says (FARGATE by default)."
  type        = string
  default     = "FARGATE_SPOT"
}

variable "interview_task_role" {
  description = "Give interview tasks an (empty) task role. Off: the candidate has a shell, the task holds no AWS permission."
  type        = bool
  default     = false
}

variable "history_retention_days" {
  description = "Days archived workspaces are kept."
  type        = number
  default     = 90
}

variable "interview_log_retention_days" {
  description = "Days interview containers' logs are kept."
  type        = number
  default     = 14
}

variable "bot_log_retention_days" {
  description = "Days the bot's log is kept."
  type        = number
  default     = 30
}

variable "interviews_listing_index" {
  description = "The interviews table's listing index (prequel-core's INTERVIEWS_BY_START_INDEX)."
  type = object({
    name      = string
    hash_key  = string
    range_key = string
  })
  default = {
    name      = "status-startKey-index"
    hash_key  = "status"
    range_key = "startKey"
  }
}

variable "deletion_protection" {
  description = "Protect the load balancer and tables from deletion and keep non-empty buckets and repositories. Set false and apply before `terraform destroy`."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Extra tags for every resource (`prequel:deployment` is always set)."
  type        = map(string)
  default     = {}
}
