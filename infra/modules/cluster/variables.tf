variable "name" {
  description = "The deployment's stem, `{prefix}-{environment}`: the cluster's name and every other name's start."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.name)) && length(var.name) <= 19
    error_message = "name must be `{prefix}-{environment}`: lowercase letters, digits and `-`, at most 19 characters."
  }
}

variable "log_group_root" {
  description = "The log groups' common path, `/{prefix}/{environment}`; interview containers log to `{root}/interviews`, the bot to `{root}/bot`."
  type        = string

  validation {
    condition     = can(regex("^/[a-z][a-z0-9-]*/[a-z][a-z0-9-]*$", var.log_group_root))
    error_message = "log_group_root must look like /prequel/prod."
  }
}

variable "vpc_id" {
  description = "The VPC the tasks run in."
  type        = string
}

variable "alb_security_group_id" {
  description = "The shared load balancer's security group: the only source of traffic to port 8080 of interview and bot tasks."
  type        = string
}

variable "interview_log_retention_days" {
  description = "Days the interview containers' output (code-server, entrypoint, agent) is kept."
  type        = number
  default     = 14

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.interview_log_retention_days)
    error_message = "interview_log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, …)."
  }
}

variable "bot_log_retention_days" {
  description = "Days the bot's log is kept."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.bot_log_retention_days)
    error_message = "bot_log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, …)."
  }
}

variable "container_insights" {
  description = "Turn on CloudWatch Container Insights (billed per metric; off keeps the base cost down)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource (the root passes `prequel:deployment = {prefix}-{environment}`)."
  type        = map(string)
  default     = {}
}
