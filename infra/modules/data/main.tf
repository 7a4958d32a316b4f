# What the bot keeps: two DynamoDB tables, two S3 buckets and the bot's own secrets in SSM.
# Names, keys, indexes and the TTL attribute are the contract with prequel-core (src/aws/mod.rs,
# src/store/dynamo.rs); interview passwords (`/{prefix}/{environment}/interviews/{id}/password`)
# are written and deleted by the bot itself, not here.

locals {
  stem    = "${var.prefix}-${var.environment}"
  buckets = ["challenges", "history"]

  # table => { gsi name => [hash key, range key] }. Every key attribute is a string.
  indexes = {
    interviews = {
      "status-autoDestroyAt-index"        = ["status", "autoDestroyAt"]
      (var.interviews_listing_index.name) = [var.interviews_listing_index.hash_key, var.interviews_listing_index.range_key]
    }
    operations = {
      "status-scheduledAt-index" = ["status", "scheduledAt"]
      "interviewId-type-index"   = ["interviewId", "type"]
    }
  }

  # ECS secret name => SSM parameter (SecureString, value set out of band).
  bot_secrets = merge(
    { PREQUEL_ADMIN_TOKEN = "admin-token" },
    var.slack_enabled ? {
      PREQUEL_SLACK_SIGNING_SECRET = "slack-signing-secret"
      PREQUEL_SLACK_BOT_TOKEN      = "slack-bot-token"
    } : {},
    var.discord_enabled ? {
      PREQUEL_DISCORD_PUBLIC_KEY     = "discord-public-key"
      PREQUEL_DISCORD_BOT_TOKEN      = "discord-bot-token"
      PREQUEL_DISCORD_APPLICATION_ID = "discord-application-id"
    } : {},
  )
}

# --- DynamoDB ------------------------------------------------------------------------------------

resource "aws_dynamodb_table" "this" {
  #checkov:skip=CKV_AWS_119: encrypted at rest with the AWS-owned key (DynamoDB always encrypts); a customer-managed KMS key would add $1/month plus request charges on every read and write.
  for_each     = local.indexes
  name         = "${local.stem}-${each.key}"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  deletion_protection_enabled = var.deletion_protection

  dynamic "attribute" {
    for_each = toset(concat(["pk", "sk"], flatten(values(each.value))))
    content {
      name = attribute.value
      type = "S"
    }
  }

  dynamic "global_secondary_index" {
    for_each = each.value
    content {
      name            = global_secondary_index.key
      hash_key        = global_secondary_index.value[0]
      range_key       = global_secondary_index.value[1]
      projection_type = "ALL"
    }
  }

  # Set by the store only on terminal records (DESIGN.md invariant 8).
  ttl {
    attribute_name = "expiresAt"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }

  tags = merge(var.tags, { Name = "${local.stem}-${each.key}" })
}

# --- S3 ------------------------------------------------------------------------------------------

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18: server access logging needs a third bucket and its storage; the buckets hold only starter files and archives, are reached with presigned URLs scoped to one object, and CloudTrail data events are the audit option.
  #checkov:skip=CKV_AWS_144: cross-region replication doubles storage and transfer; starter files are rebuilt from the repository by `prequel challenges sync`, and archives are kept 90 days.
  #checkov:skip=CKV2_AWS_62: nothing reacts to new objects; event notifications would have no consumer.
  #checkov:skip=CKV_AWS_145: SSE-S3 (AES-256) instead of SSE-KMS: presigned GETs and PUTs then need no KMS permission on the instance's side and add no KMS request charges.
  for_each      = toset(local.buckets)
  bucket        = "${local.stem}-${each.key}"
  force_destroy = !var.deletion_protection
  tags          = merge(var.tags, { Name = "${local.stem}-${each.key}" })
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = toset(local.buckets)
  bucket                  = aws_s3_bucket.this[each.key].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = toset(local.buckets)
  bucket   = aws_s3_bucket.this[each.key].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = toset(local.buckets)
  bucket   = aws_s3_bucket.this[each.key].id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = toset(local.buckets)
  bucket   = aws_s3_bucket.this[each.key].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
    bucket_key_enabled = true
  }
}

# TLS only, for every caller (presigned URLs included).
resource "aws_s3_bucket_policy" "tls_only" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [each.value.arn, "${each.value.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })

  depends_on = [aws_s3_bucket_public_access_block.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "history" {
  bucket = aws_s3_bucket.this["history"].id

  rule {
    id     = "expire-archives"
    status = "Enabled"
    filter {}

    expiration {
      days = var.history_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "challenges" {
  bucket = aws_s3_bucket.this["challenges"].id

  # Current starter files stay; replaced versions (every sync of a changed challenge) go.
  rule {
    id     = "expire-replaced-versions"
    status = "Enabled"
    filter {}

    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

# --- SSM: the bot's own secrets ---------------------------------------------------------------------

resource "aws_ssm_parameter" "bot" {
  #checkov:skip=CKV_AWS_337: SecureString with the AWS-managed aws/ssm key: free, and ECS resolves it without a key policy; a customer-managed key costs $1/month.
  for_each    = local.bot_secrets
  name        = "/${var.prefix}/${var.environment}/bot/${each.value}"
  description = "${each.key} of the Prequel bot; set the value out of band (docs/deploy.md)."
  type        = "SecureString"
  # A placeholder: the real value is put with `aws ssm put-parameter --overwrite` and never
  # lands in the Terraform state.
  value = "set-me-out-of-band"
  tags  = var.tags

  lifecycle {
    ignore_changes = [value]
  }
}
