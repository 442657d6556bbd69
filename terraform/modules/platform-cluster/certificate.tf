# The ALB's HTTPS certificate and name: ACM, validated by DNS in the public Route 53 zone the env root
# is given, for gitops-<env>.<zone>. Nothing here is copied into Git: the certificate's ARN reaches the
# Load Balancer Controller through the IngressClassParams modules/cluster-addons renders.

locals {
  # The one public name of the env's ALB (every Ingress of the IngressGroup shares it).
  public_hostname = "${local.name}.${var.dns_zone_name}"
}

data "aws_route53_zone" "public" {
  name         = var.dns_zone_name
  private_zone = false
}

resource "aws_acm_certificate" "alb" {
  domain_name       = local.public_hostname
  validation_method = "DNS"

  options {
    certificate_transparency_logging_preference = "ENABLED"
  }

  # A renamed zone or host gets its new certificate before the ALB lets go of the old one.
  lifecycle {
    create_before_destroy = true
  }

  tags = local.tags
}

resource "aws_route53_record" "certificate_validation" {
  for_each = {
    for o in aws_acm_certificate.alb.domain_validation_options : o.domain_name => o
  }

  zone_id         = data.aws_route53_zone.public.zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  ttl             = 300
  records         = [each.value.resource_record_value]
  allow_overwrite = true
}

# Waits until ACM has issued the certificate, so the controller never gets an ARN it cannot use.
resource "aws_acm_certificate_validation" "alb" {
  certificate_arn         = aws_acm_certificate.alb.arn
  validation_record_fqdns = [for r in aws_route53_record.certificate_validation : r.fqdn]
}

# The ALB itself is the Load Balancer Controller's, created once Argo CD has synced the Ingresses, so
# the name follows it: any apply after the controller built it (CI applies every merge) points
# gitops-<env>.<zone> at it, found by the tags the controller puts on its IngressGroup's load balancer.
data "aws_lbs" "ingress_group" {
  tags = {
    "elbv2.k8s.aws/cluster" = local.name
    "ingress.k8s.aws/stack" = local.ingress_group
  }
}

data "aws_lb" "ingress_group" {
  for_each = data.aws_lbs.ingress_group.arns
  arn      = each.value
}

resource "aws_route53_record" "public" {
  #checkov:skip=CKV2_AWS_23:An alias to the ALB found by data.aws_lb (the controller's, by its IngressGroup tags); checkov cannot resolve a data source's load balancer offline.
  for_each = data.aws_lb.ingress_group

  zone_id = data.aws_route53_zone.public.zone_id
  name    = local.public_hostname
  type    = "A"

  alias {
    name                   = each.value.dns_name
    zone_id                = each.value.zone_id
    evaluate_target_health = true
  }
}
