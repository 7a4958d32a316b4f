variable "name" {
  description = "The deployment's stem, `{prefix}-{environment}`: every resource name starts with it."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.name)) && length(var.name) <= 19
    error_message = "name must be `{prefix}-{environment}`: lowercase letters, digits and `-`, at most 19 characters."
  }
}

variable "cidr_block" {
  description = "The VPC's IPv4 range; two /20 public subnets are carved from it (one per availability zone)."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && tonumber(split("/", var.cidr_block)[1]) <= 19
    error_message = "cidr_block must be a valid IPv4 CIDR of /19 or larger (it holds two /20 subnets)."
  }
}

variable "availability_zones" {
  description = "Exactly two availability zones to spread the subnets over; null picks the region's first two available ones."
  type        = list(string)
  default     = null

  validation {
    condition     = var.availability_zones == null || length(coalesce(var.availability_zones, [])) == 2
    error_message = "availability_zones must name exactly two zones (or be null)."
  }
}

variable "gateway_endpoints" {
  description = "Add the free S3 and DynamoDB gateway endpoints to the route table, so traffic to them stays on the AWS network."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for every resource (the root passes `prequel:deployment = {prefix}-{environment}`)."
  type        = map(string)
  default     = {}
}
