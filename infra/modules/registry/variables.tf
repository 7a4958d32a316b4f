variable "name" {
  description = "The deployment's stem, `{prefix}-{environment}`: repositories are `{name}-instance` and `{name}-bot`."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.name)) && length(var.name) <= 19
    error_message = "name must be `{prefix}-{environment}`: lowercase letters, digits and `-`, at most 19 characters."
  }
}

variable "keep_images" {
  description = "How many images each repository keeps (older ones are expired: ECR storage is billed per GB-month)."
  type        = number
  default     = 5

  validation {
    condition     = var.keep_images >= 1 && var.keep_images <= 1000
    error_message = "keep_images must be between 1 and 1000."
  }
}

variable "force_delete" {
  description = "Let `terraform destroy` delete repositories that still hold images."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource (the root passes `prequel:deployment = {prefix}-{environment}`)."
  type        = map(string)
  default     = {}
}
