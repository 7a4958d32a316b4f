variable "name" {
  description = "The deployment's stem, `{prefix}-{environment}`: the service and task family are `{name}-bot`."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.name)) && length(var.name) <= 19
    error_message = "name must be `{prefix}-{environment}`: lowercase letters, digits and `-`, at most 19 characters."
  }
}

variable "region" {
  description = "The region (the container's AWS_REGION and its log stream's region)."
  type        = string
}

variable "cluster_arn" {
  description = "The ECS cluster the service runs in."
  type        = string
}

variable "image" {
  description = "The bot's image, `{repository_url}:{tag}` (built from instance/bot.Dockerfile)."
  type        = string
}

variable "settings" {
  description = "The bot's settings, key => value; each becomes the environment variable PREQUEL_{KEY} (keys are the root module's outputs). Empty values are left out."
  type        = map(string)

  validation {
    condition     = alltrue([for k in keys(var.settings) : can(regex("^[a-z][a-z0-9_]*$", k))])
    error_message = "settings keys are lowercase snake_case (they become PREQUEL_{KEY})."
  }
}

variable "extra_environment" {
  description = "More environment variables for the bot (e.g. PREQUEL_SLACK_ALLOWED_CHANNELS); they may not override a setting."
  type        = map(string)
  default     = {}
}

variable "secrets" {
  description = "ECS secret name => SSM parameter ARN (PREQUEL_ADMIN_TOKEN, Slack's and Discord's secrets)."
  type        = map(string)
}

variable "subnet_ids" {
  description = "Subnets the bot's task may run in."
  type        = list(string)
}

variable "security_group_id" {
  description = "The bot's security group (8080 from the load balancer only)."
  type        = string
}

variable "assign_public_ip" {
  description = "Give the task a public IPv4 address: needed in public subnets without a NAT gateway (the default network) to reach AWS APIs, Slack and Discord."
  type        = bool
  default     = true
}

variable "target_group_arn" {
  description = "The load balancer target group routing `bot.{domain}`."
  type        = string
}

variable "execution_role_arn" {
  description = "The bot's execution role (image, log, secrets)."
  type        = string
}

variable "task_role_arn" {
  description = "The bot's task role (what the bot may do in AWS)."
  type        = string
}

variable "log_group_name" {
  description = "The bot's CloudWatch log group."
  type        = string
}

variable "cpu" {
  description = "The bot task's CPU units (256 = a quarter vCPU)."
  type        = number
  default     = 256

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.cpu)
    error_message = "cpu must be a Fargate size: 256, 512, 1024, 2048 or 4096."
  }
}

variable "memory" {
  description = "The bot task's memory in MiB (must suit cpu: 512–2048 for 256 units)."
  type        = number
  default     = 512
}

variable "architecture" {
  description = "X86_64 or ARM64. ARM64 is 20% cheaper on demand but cannot run on Fargate Spot; build the image for the chosen platform."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.architecture)
    error_message = "architecture must be X86_64 or ARM64."
  }
}

variable "capacity_provider" {
  description = "FARGATE_SPOT (default: ≈ 70% cheaper; an interruption restarts the bot within minutes, and it resumes from DynamoDB) or FARGATE."
  type        = string
  default     = "FARGATE_SPOT"

  validation {
    condition     = contains(["FARGATE", "FARGATE_SPOT"], var.capacity_provider)
    error_message = "capacity_provider must be FARGATE or FARGATE_SPOT."
  }
}

variable "desired_count" {
  description = "How many bot tasks run (0 pauses the bot; more than 1 is safe: claims are conditional writes)."
  type        = number
  default     = 1
}

variable "tags" {
  description = "Tags for every resource (the root passes `prequel:deployment = {prefix}-{environment}`)."
  type        = map(string)
  default     = {}
}
