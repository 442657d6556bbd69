# The two commands a newcomer needs are `make demo` and `make test`; the rest are for maintainers.
.PHONY: demo test bench soak mutants fmt
SHELL := /bin/bash

demo: ## Run the local demo: api-app on :8080 and demo-app on :8081 (open http://localhost:8081)
	@scripts/demo.sh

test: ## Every check CI runs: fmt, clippy, tests, deploy-bundle validators, drills, browser test
	@scripts/test.sh

bench: ## The performance table (api-app vs bare actix, Express, pgbench); writes bench/RESULTS.md and bench/ratios.json
	@scripts/bench.sh

soak: ## Minutes of mixed load; writes bench/SOAK.md
	@scripts/soak.sh

mutants: ## Mutation testing of the three crates (hours on 2 cores); pass ARGS="--shard 0/8" etc.
	@scripts/mutants.sh $(ARGS)

fmt:
	cargo fmt --all
	terraform fmt -recursive terraform
