terraform {
  required_version = ">= 1.11, < 2.0"

  # Exact versions, the same in every root: CI and laptops resolve the same providers, and the
  # committed .terraform.lock.hcl (terraform-lock.yml) holds their hashes; bump a version here in a
  # PR. tls and time come from the EKS module (>= 4.0, >= 0.9); only a root can pin them exactly.
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "6.28.0"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "3.1.1"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "4.1.0"
    }
    time = {
      source  = "hashicorp/time"
      version = "0.13.1"
    }
  }
}
