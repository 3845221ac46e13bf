"""Recipient verification for Campaigns (spec.verification): the checker run as a Kubernetes Job.

plan.py decides (pure), observe.py reads the run from Postgres and its Job from the apiserver, apply.py
makes the run and the Job and skips what the check found at materialisation. Called by the campaign
controller's observe, plan and apply steps.
"""
