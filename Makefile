# The two commands a newcomer needs are `make demo` and `make test`; the rest are for maintainers.
.PHONY: demo test bench soak fmt
SHELL := /bin/bash

demo: ## Run the local demo: api-app on :8080 and demo-app on :8081 (open http://localhost:8081)
	@scripts/demo.sh

test: ## Every check CI runs: fmt, clippy, tests, deploy-bundle validators, drills, browser test
	@scripts/test.sh

bench: ## Load benchmark against release builds; writes bench/RESULTS.md
	@scripts/bench.sh

soak: ## Minutes of mixed load; writes bench/SOAK.md
	@scripts/soak.sh

fmt:
	cargo fmt --all
	terraform fmt -recursive terraform
