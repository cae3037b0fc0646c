"""Promotion logic for the metricsapp GitOps flow (dev -> staging -> main).

Every decision the workflows take lives here so it can be tested on local git
repositories: which digests belong to a commit, whether an environment is green, whether
a promotion is a fast-forward, what a rollback may target. The workflows only call
`scripts/promote`.
"""
