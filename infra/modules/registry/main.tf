# Two repositories: the interview image (instance/Dockerfile) and the bot (instance/bot.Dockerfile).
# Tags are immutable, so `v1.2.0` always means the same bytes; deploy by pushing a new tag.

resource "aws_ecr_repository" "this" {
  #checkov:skip=CKV_AWS_136: AES-256 (ECR's default) rather than a customer-managed KMS key, which would add $1/month and a key policy for images that hold no secret.
  for_each             = toset(["instance", "bot"])
  name                 = "${var.name}-${each.key}"
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.force_delete

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "AES256"
  }

  tags = merge(var.tags, { Name = "${var.name}-${each.key}" })
}

resource "aws_ecr_lifecycle_policy" "this" {
  for_each   = aws_ecr_repository.this
  repository = each.value.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "keep the newest ${var.keep_images} images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = var.keep_images
      }
      action = { type = "expire" }
    }]
  })
}
