//! Where the ALB's traffic comes from: the public subnets Terraform carves for it, and nothing
//! wider, so a `NetworkPolicy` that admits the ALB never admits the pods of the same VPC.

use std::net::Ipv4Addr;

use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use integration_tests::read_text;

const PLATFORM_MAIN: &str = "terraform/modules/platform-cluster/main.tf";

/// Terraform's `cidrsubnet(prefix, newbits, netnum)` for IPv4.
fn cidrsubnet(prefix: &str, newbits: u32, netnum: u32) -> String {
    let (ip, len) = prefix.split_once('/').expect("a CIDR");
    let (ip, len): (Ipv4Addr, u32) = (ip.parse().unwrap(), len.parse().unwrap());
    let new_len = len + newbits;
    assert!(
        new_len <= 32 && netnum < (1 << newbits),
        "{prefix} has no subnet {netnum}/{newbits}"
    );
    let base = u32::from(ip) & (u32::MAX.checked_shl(32 - len).unwrap_or(0));
    format!(
        "{}/{new_len}",
        Ipv4Addr::from(base | (netnum << (32 - new_len)))
    )
}

#[allow(clippy::needless_pass_by_value)] // hcl's `Func` type takes the arguments by value.
fn cidrsubnet_func(args: FuncArgs) -> Result<hcl::Value, String> {
    let number = |i: usize| {
        args[i]
            .as_number()
            .and_then(hcl::Number::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or("cidrsubnet takes whole numbers")
    };
    let prefix = args[0].as_str().ok_or("cidrsubnet takes a CIDR string")?;
    Ok(cidrsubnet(prefix, number(1)?, number(2)?).into())
}

/// The attribute `key` of the platform module's `module "vpc"` block.
fn vpc_arg(key: &str) -> hcl::Expression {
    let body: hcl::Body = hcl::from_str(&read_text(PLATFORM_MAIN)).unwrap();
    body.blocks()
        .find(|b| {
            b.identifier() == "module" && b.labels().first().is_some_and(|l| l.as_str() == "vpc")
        })
        .and_then(|b| {
            b.body()
                .attributes()
                .find(|a| a.key() == key)
                .map(|a| a.expr().clone())
        })
        .unwrap_or_else(|| panic!("module \"vpc\" sets no {key}"))
}

/// `vpc_cidr` as the env root passes it to the platform module.
fn vpc_cidr(env: &str) -> String {
    let body: hcl::Body =
        hcl::from_str(&read_text(&format!("terraform/envs/{env}/main.tf"))).unwrap();
    body.blocks()
        .flat_map(|b| b.body().attributes())
        .find(|a| a.key() == "vpc_cidr")
        .and_then(|a| match a.expr() {
            hcl::Expression::String(cidr) => Some(cidr.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no literal vpc_cidr in terraform/envs/{env}/main.tf"))
}

/// A `module "vpc"` subnet list evaluated for one env, with the three AZs the module pins.
fn subnets(env: &str, key: &str) -> Vec<String> {
    let mut ctx = Context::new();
    ctx.declare_var("var", hcl::value!({ vpc_cidr = (vpc_cidr(env)) }));
    ctx.declare_var(
        "local",
        hcl::value!({ azs = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }),
    );
    ctx.declare_func(
        "cidrsubnet",
        FuncDef::builder()
            .params([ParamType::String, ParamType::Number, ParamType::Number])
            .build(cidrsubnet_func),
    );
    let value = vpc_arg(key)
        .evaluate(&ctx)
        .unwrap_or_else(|e| panic!("module vpc {key}: {e}"));
    value
        .as_array()
        .expect("a list of CIDRs")
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// The CIDRs of the env's public subnets: where the internet-facing ALB puts its ENIs.
pub(crate) fn alb_subnet_cidrs(env: &str) -> Vec<String> {
    subnets(env, "public_subnets")
}

#[test]
fn cidrsubnet_matches_terraform() {
    assert_eq!(cidrsubnet("10.10.0.0/16", 8, 48), "10.10.48.0/24");
    assert_eq!(cidrsubnet("10.20.0.0/16", 4, 2), "10.20.32.0/20");
}

#[test]
fn the_alb_subnets_are_the_elb_tagged_public_ones_and_hold_no_pods() {
    // The load balancer controller puts internet-facing ALBs in the subnets tagged for it.
    let tags = vpc_arg("public_subnet_tags").to_string();
    assert!(
        tags.contains("\"kubernetes.io/role/elb\""),
        "public subnets carry the ELB role tag: {tags}"
    );
    for env in ["dev", "prod"] {
        let public = alb_subnet_cidrs(env);
        assert_eq!(public.len(), 3, "{env}: one public subnet per AZ");
        // Nodes and pods (VPC CNI) live in the private subnets; none may overlap the ALB's.
        for private in subnets(env, "private_subnets") {
            for p in &public {
                let within = |outer: &str, inner: &str| {
                    let (o, ol) = outer.split_once('/').unwrap();
                    let (i, _) = inner.split_once('/').unwrap();
                    let ol: u32 = ol.parse().unwrap();
                    let mask = u32::MAX.checked_shl(32 - ol).unwrap_or(0);
                    u32::from(o.parse::<Ipv4Addr>().unwrap()) & mask
                        == u32::from(i.parse::<Ipv4Addr>().unwrap()) & mask
                };
                assert!(
                    !within(&private, p) && !within(p, &private),
                    "{env}: {p} overlaps pod subnet {private}"
                );
            }
        }
    }
}
