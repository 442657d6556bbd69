# Dev cost control: the node group sleeps outside working hours. Prod has no schedule (variable validation).

locals {
  node_scale_actions = var.node_scale_down_schedule == null ? {} : {
    down = {
      recurrence = var.node_scale_down_schedule.scale_down_recurrence
      min_size   = 0
      max_size   = var.node_group.max_size
      desired    = 0
    }
    up = {
      recurrence = var.node_scale_down_schedule.scale_up_recurrence
      min_size   = var.node_group.min_size
      max_size   = var.node_group.max_size
      desired    = var.node_group.desired_size
    }
  }
}

resource "aws_autoscaling_schedule" "nodes" {
  for_each = local.node_scale_actions

  scheduled_action_name  = "${local.name}-nodes-${each.key}"
  autoscaling_group_name = module.eks.eks_managed_node_groups_autoscaling_group_names[0]
  recurrence             = each.value.recurrence
  time_zone              = var.node_scale_down_schedule.time_zone
  min_size               = each.value.min_size
  max_size               = each.value.max_size
  desired_capacity       = each.value.desired
}

# The node group as it is now: after hours in dev its desired capacity is 0, and nothing can start a pod.
data "aws_autoscaling_group" "nodes" {
  name = module.eks.eks_managed_node_groups_autoscaling_group_names[0]
}
