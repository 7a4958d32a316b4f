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

variable "interviews_listing_index" {
  description = "The interviews table's index for listing by start time (the store's INTERVIEWS_BY_START_INDEX): its name, hash key and range key (all strings)."
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

variable "history_retention_days" {
  description = "Days an archived workspace is kept in the history bucket before it expires."
  type        = number
  default     = 90

  validation {
    condition     = var.history_retention_days >= 1
    error_message = "history_retention_days must be at least 1."
  }
}

variable "deletion_protection" {
  description = "Protect the DynamoDB tables from deletion, and keep non-empty buckets on destroy (turn off before `terraform destroy`)."
  type        = bool
  default     = true
}

variable "slack_enabled" {
  description = "Create the SSM parameters of the Slack frontend's secrets."
  type        = bool
  default     = true
}

variable "discord_enabled" {
  description = "Create the SSM parameters of the Discord frontend's secrets."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource (the root passes `prequel:deployment = {prefix}-{environment}`)."
  type        = map(string)
  default     = {}
}
