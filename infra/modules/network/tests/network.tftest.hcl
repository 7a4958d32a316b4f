mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = { names = ["us-east-1a", "us-east-1b", "us-east-1c"] }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
}

variables {
  name = "prequel-prod"
  tags = { "prequel:deployment" = "prequel-prod" }
}

run "two_public_subnets_in_two_zones_without_nat" {
  command = apply

  assert {
    condition     = length(aws_subnet.public) == 2
    error_message = "two subnets expected"
  }
  assert {
    condition     = aws_subnet.public[0].availability_zone != aws_subnet.public[1].availability_zone
    error_message = "the subnets must sit in different zones"
  }
  assert {
    condition     = alltrue([for s in aws_subnet.public : s.map_public_ip_on_launch == false])
    error_message = "nothing gets a public IP unless it asks for one"
  }
  assert {
    condition     = aws_subnet.public[0].cidr_block == "10.42.0.0/20" && aws_subnet.public[1].cidr_block == "10.42.16.0/20"
    error_message = "subnets are the first two /20 of the VPC"
  }
  assert {
    condition     = aws_route.internet.destination_cidr_block == "0.0.0.0/0"
    error_message = "the public route table routes to the internet gateway"
  }
}

run "free_gateway_endpoints_for_s3_and_dynamodb" {
  command = apply

  assert {
    condition     = toset(keys(aws_vpc_endpoint.gateway)) == toset(["s3", "dynamodb"])
    error_message = "S3 and DynamoDB gateway endpoints expected"
  }
  assert {
    condition     = aws_vpc_endpoint.gateway["s3"].service_name == "com.amazonaws.us-east-1.s3"
    error_message = "endpoint service names follow the region"
  }
  assert {
    condition     = alltrue([for e in aws_vpc_endpoint.gateway : e.vpc_endpoint_type == "Gateway"])
    error_message = "only gateway endpoints (free), never interface endpoints, by default"
  }
}

run "the_default_security_group_allows_nothing" {
  command = apply

  assert {
    condition     = length(aws_default_security_group.this.ingress) == 0 && length(aws_default_security_group.this.egress) == 0
    error_message = "the default security group must hold no rule"
  }
}

run "everything_is_tagged_with_the_deployment" {
  command = apply

  assert {
    condition = alltrue([
      aws_vpc.this.tags["prequel:deployment"] == "prequel-prod",
      aws_subnet.public[0].tags["prequel:deployment"] == "prequel-prod",
      aws_route_table.public.tags["prequel:deployment"] == "prequel-prod",
      aws_internet_gateway.this.tags["prequel:deployment"] == "prequel-prod",
    ])
    error_message = "every resource carries prequel:deployment"
  }
}

run "zones_can_be_given" {
  command = apply
  variables {
    availability_zones = ["eu-west-1b", "eu-west-1c"]
    gateway_endpoints  = false
  }

  assert {
    condition     = aws_subnet.public[1].availability_zone == "eu-west-1c"
    error_message = "given zones are used"
  }
  assert {
    condition     = length(aws_vpc_endpoint.gateway) == 0
    error_message = "endpoints can be turned off"
  }
}

run "a_bad_name_is_refused" {
  command = plan
  variables {
    name = "Prequel_Prod"
  }
  expect_failures = [var.name]
}
