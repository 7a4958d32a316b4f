output "vpc_id" {
  description = "The VPC's id."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "The VPC's IPv4 range."
  value       = aws_vpc.this.cidr_block
}

output "subnet_ids" {
  description = "The two public subnets, one per availability zone."
  value       = aws_subnet.public[*].id
}

output "route_table_id" {
  description = "The public route table."
  value       = aws_route_table.public.id
}
