mock_provider "aws" {
  mock_resource "aws_ecr_repository" {
    defaults = {
      arn            = "arn:aws:ecr:us-east-1:123456789012:repository/prequel-prod-x"
      repository_url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/prequel-prod-x"
    }
  }
}

variables {
  name = "prequel-prod"
  tags = { "prequel:deployment" = "prequel-prod" }
}

run "two_immutable_scanned_repositories" {
  assert {
    condition     = toset([for r in aws_ecr_repository.this : r.name]) == toset(["prequel-prod-instance", "prequel-prod-bot"])
    error_message = "the instance and bot repositories, named after the deployment"
  }
  assert {
    condition     = alltrue([for r in aws_ecr_repository.this : r.image_tag_mutability == "IMMUTABLE" && one(r.image_scanning_configuration).scan_on_push])
    error_message = "immutable tags, scanned on push"
  }
  assert {
    condition     = alltrue([for r in aws_ecr_repository.this : r.tags["prequel:deployment"] == "prequel-prod"])
    error_message = "tagged with the deployment"
  }
}

run "old_images_expire" {
  assert {
    condition     = alltrue([for p in aws_ecr_lifecycle_policy.this : jsondecode(p.policy).rules[0].selection.countNumber == 5])
    error_message = "each repository keeps the newest 5 images"
  }
}
