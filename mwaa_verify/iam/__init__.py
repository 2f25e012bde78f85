"""IAM: a faithful local policy evaluator, and (next) the permissions an MWAA environment needs."""
