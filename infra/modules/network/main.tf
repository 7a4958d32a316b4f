# The network: one VPC over two availability zones with public subnets only, and no NAT gateway.
#
# Trade-off (see infra/README.md): a NAT gateway costs ≈ $33/month per AZ plus $0.045/GB, more
# than the whole budget, and interface VPC endpoints (ECR api+dkr, logs, SSM, ECS…) ≈ $7.30/month
# each per AZ. Instead every task gets a public IPv4 address ($0.005/hour while it runs) and
# security groups are the boundary: interview tasks accept 8080 only from the ALB and 8081 only
# from the bot, the bot accepts 8080 only from the ALB, nothing else reaches them. Egress is HTTPS.
# The price is that tasks are addressable on the internet (with every port closed) and egress is
# not pinned to fixed IPs. Teams that want private subnets add a NAT gateway (or endpoints) and set
# the bot's assign_public_ip to false.

data "aws_availability_zones" "available" {
  count = var.availability_zones == null ? 1 : 0
  state = "available"
}

data "aws_region" "current" {}

locals {
  zones = var.availability_zones != null ? var.availability_zones : slice(data.aws_availability_zones.available[0].names, 0, 2)
}

resource "aws_vpc" "this" {
  #checkov:skip=CKV2_AWS_11: VPC flow logs cost CloudWatch ingestion on every packet summary; the budget (≤ $20/month) has no room, and the SGs admit only the ALB. Add them with an aws_flow_log when audits need them.
  cidr_block           = var.cidr_block
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = merge(var.tags, { Name = var.name })
}

# No rule at all: nothing may use the default security group by accident.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-default-unused" })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = var.name })
}

resource "aws_subnet" "public" {
  count             = 2
  vpc_id            = aws_vpc.this.id
  availability_zone = local.zones[count.index]
  cidr_block        = cidrsubnet(var.cidr_block, 20 - tonumber(split("/", var.cidr_block)[1]), count.index)
  # Tasks ask for a public IP explicitly (RunTask assignPublicIp); nothing gets one by default.
  map_public_ip_on_launch = false

  tags = merge(var.tags, { Name = "${var.name}-public-${local.zones[count.index]}" })
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-public" })
}

resource "aws_route" "internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  count          = 2
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

# Gateway endpoints are free: S3 (starter bundles, archives, image layers from ECR) and DynamoDB
# traffic then stays on the AWS network.
resource "aws_vpc_endpoint" "gateway" {
  for_each          = var.gateway_endpoints ? toset(["s3", "dynamodb"]) : toset([])
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.${each.key}"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.public.id]

  tags = merge(var.tags, { Name = "${var.name}-${each.key}" })
}
