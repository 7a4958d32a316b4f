mock_provider "aws" {
  mock_resource "aws_dynamodb_table" {
    defaults = { arn = "arn:aws:dynamodb:us-east-1:123456789012:table/prequel-prod-x" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::prequel-prod-x" }
  }
  mock_resource "aws_ssm_parameter" {
    defaults = { arn = "arn:aws:ssm:us-east-1:123456789012:parameter/prequel/prod/bot/x" }
  }
}

variables {
  prefix      = "prequel"
  environment = "prod"
  tags        = { "prequel:deployment" = "prequel-prod" }
}

run "tables_have_the_keys_indexes_and_ttl_of_the_store" {
  assert {
    condition     = toset(keys(aws_dynamodb_table.this)) == toset(["interviews", "operations"])
    error_message = "two tables"
  }
  assert {
    condition = alltrue([for t in aws_dynamodb_table.this :
      t.hash_key == "pk" && t.range_key == "sk" && t.billing_mode == "PAY_PER_REQUEST"
    ])
    error_message = "pk/sk keys, on demand"
  }
  assert {
    condition     = aws_dynamodb_table.this["interviews"].name == "prequel-prod-interviews" && aws_dynamodb_table.this["operations"].name == "prequel-prod-operations"
    error_message = "table names follow {prefix}-{environment}-…"
  }
  assert {
    condition = alltrue([for t in aws_dynamodb_table.this :
      one(t.ttl).attribute_name == "expiresAt" && one(t.ttl).enabled
    ])
    error_message = "TTL on expiresAt, enabled, on both tables"
  }
  assert {
    condition     = alltrue([for t in aws_dynamodb_table.this : one(t.point_in_time_recovery).enabled])
    error_message = "point-in-time recovery on both tables"
  }
  assert {
    condition = {
      for g in aws_dynamodb_table.this["operations"].global_secondary_index : g.name => [g.hash_key, g.range_key, g.projection_type]
      } == {
      "status-scheduledAt-index" = ["status", "scheduledAt", "ALL"]
      "interviewId-type-index"   = ["interviewId", "type", "ALL"]
    }
    error_message = "the operations table's GSIs"
  }
  assert {
    condition = {
      for g in aws_dynamodb_table.this["interviews"].global_secondary_index : g.name => [g.hash_key, g.range_key, g.projection_type]
      } == {
      "status-autoDestroyAt-index" = ["status", "autoDestroyAt", "ALL"]
      "status-startKey-index"      = ["status", "startKey", "ALL"]
    }
    error_message = "the interviews table's GSIs"
  }
  assert {
    condition = alltrue(flatten([for t in aws_dynamodb_table.this : [
      for a in t.attribute : a.type == "S"
    ]]))
    error_message = "every key attribute is a string"
  }
  assert {
    condition     = length(aws_dynamodb_table.this["interviews"].attribute) == 5 && length(aws_dynamodb_table.this["operations"].attribute) == 6
    error_message = "each key attribute is declared once"
  }
}

run "buckets_are_private_encrypted_and_versioned" {
  assert {
    condition     = toset([for b in aws_s3_bucket.this : b.bucket]) == toset(["prequel-prod-challenges", "prequel-prod-history"])
    error_message = "bucket names follow {prefix}-{environment}-…"
  }
  assert {
    condition = alltrue([for b in aws_s3_bucket_public_access_block.this :
      b.block_public_acls && b.block_public_policy && b.ignore_public_acls && b.restrict_public_buckets
    ])
    error_message = "every bucket blocks public access, all four ways"
  }
  assert {
    condition     = length(aws_s3_bucket_public_access_block.this) == length(aws_s3_bucket.this)
    error_message = "no bucket without a public access block"
  }
  assert {
    condition = alltrue([for e in aws_s3_bucket_server_side_encryption_configuration.this :
      one(one(e.rule).apply_server_side_encryption_by_default).sse_algorithm == "AES256"
    ]) && length(aws_s3_bucket_server_side_encryption_configuration.this) == 2
    error_message = "every bucket encrypts by default"
  }
  assert {
    condition = alltrue([for v in aws_s3_bucket_versioning.this :
      one(v.versioning_configuration).status == "Enabled"
    ]) && length(aws_s3_bucket_versioning.this) == 2
    error_message = "every bucket is versioned"
  }
  assert {
    condition     = alltrue([for o in aws_s3_bucket_ownership_controls.this : one(o.rule).object_ownership == "BucketOwnerEnforced"])
    error_message = "ACLs are disabled"
  }
  assert {
    condition = alltrue([for p in aws_s3_bucket_policy.tls_only :
      jsondecode(p.policy).Statement[0].Effect == "Deny" &&
      jsondecode(p.policy).Statement[0].Condition.Bool["aws:SecureTransport"] == "false"
    ])
    error_message = "bucket policies only deny plain HTTP; they grant nothing"
  }
}

run "archives_expire" {
  assert {
    condition     = one(aws_s3_bucket_lifecycle_configuration.history.rule).expiration[0].days == 90
    error_message = "archives expire after 90 days by default"
  }
  assert {
    condition     = one(aws_s3_bucket_lifecycle_configuration.history.rule).noncurrent_version_expiration[0].noncurrent_days == 7
    error_message = "noncurrent archive versions expire after 7 days"
  }
}

run "bot_secrets_are_secure_strings_set_out_of_band" {
  assert {
    condition     = toset(keys(aws_ssm_parameter.bot)) == toset(["PREQUEL_ADMIN_TOKEN", "PREQUEL_SLACK_SIGNING_SECRET", "PREQUEL_SLACK_BOT_TOKEN"])
    error_message = "admin token and Slack's two secrets by default"
  }
  assert {
    condition     = alltrue([for p in aws_ssm_parameter.bot : p.type == "SecureString" && startswith(p.name, "/prequel/prod/bot/")])
    error_message = "SecureStrings under /{prefix}/{environment}/bot/"
  }
  assert {
    condition     = aws_ssm_parameter.bot["PREQUEL_ADMIN_TOKEN"].name == "/prequel/prod/bot/admin-token"
    error_message = "the admin token's parameter"
  }
}

run "discord_only" {
  variables {
    slack_enabled            = false
    discord_enabled          = true
    history_retention_days   = 30
    interviews_listing_index = { name = "listing-startKey-index", hash_key = "listing", range_key = "startKey" }
  }

  assert {
    condition     = toset(keys(aws_ssm_parameter.bot)) == toset(["PREQUEL_ADMIN_TOKEN", "PREQUEL_DISCORD_PUBLIC_KEY", "PREQUEL_DISCORD_BOT_TOKEN", "PREQUEL_DISCORD_APPLICATION_ID"])
    error_message = "Discord's three settings and no Slack secret"
  }
  assert {
    condition     = one(aws_s3_bucket_lifecycle_configuration.history.rule).expiration[0].days == 30
    error_message = "the archive retention is a variable"
  }
  assert {
    condition     = contains([for g in aws_dynamodb_table.this["interviews"].global_secondary_index : "${g.name}:${g.hash_key}:${g.range_key}"], "listing-startKey-index:listing:startKey")
    error_message = "the listing index is one variable to rename"
  }
}

run "a_bad_prefix_is_refused" {
  command = plan
  variables {
    prefix = "prequel-"
  }
  expect_failures = [var.prefix]
}

run "everything_is_tagged_with_the_deployment" {
  assert {
    condition = alltrue(concat(
      [for t in aws_dynamodb_table.this : t.tags["prequel:deployment"] == "prequel-prod"],
      [for b in aws_s3_bucket.this : b.tags["prequel:deployment"] == "prequel-prod"],
      [for p in aws_ssm_parameter.bot : p.tags["prequel:deployment"] == "prequel-prod"],
    ))
    error_message = "every taggable resource carries prequel:deployment"
  }
}
