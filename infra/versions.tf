terraform {
  # 1.9 for validations that compare two variables; 1.11 is what CI runs.
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60.0, < 6.0.0"
    }
  }

  # State: copy backend.tf.example to backend.tf (S3 with native locking) before the first
  # `terraform init`; see docs/deploy.md.
}

provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}
