# Nexus: `make run` starts everything for development; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NPX := npx --no-install
RUNTIME ?= node
export NPM_CONFIG_UPDATE_NOTIFIER := false
export NPM_CONFIG_FUND := false
export NPM_CONFIG_AUDIT := false

.PHONY: help install browser python deploy-tools generate docs check-gen lint typecheck packages client-package cli-package test run web build broker gateway migrate rewrap bench docs-site docs-serve release-check clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: node_modules/.package-lock.json ## Install dependencies (npm ci) when package-lock.json changed

browser: ## Install Debian's Chromium for the browser test when it is missing
	@scripts/ensure-chromium.sh

python: ## Install Debian's python3 and python3-venv for the Python SDK test when they are missing
	@scripts/ensure-python.sh

deploy-tools: ## Install Debian's nginx and Caddy for the deployment test when they are missing
	@scripts/ensure-deploy-tools.sh

generate: install ## Regenerate gen/ from proto/
	$(NPX) buf generate

docs: install ## Regenerate docs/api.md from the proto comments, and docs/providers/ from providers/templates/
	$(NPX) tsx scripts/api-reference.ts
	$(NPX) tsx scripts/provider-templates.ts

check-gen: install ## Fail when gen/, docs/api.md, docs/cli.md or the provider template outputs are stale
	@rm -rf .nexus/gen-check && mkdir -p .nexus/gen-check
	@$(NPX) buf generate -o .nexus/gen-check
	@diff -r gen .nexus/gen-check/gen >/dev/null || { echo "gen/ is stale: run 'make generate' and commit gen/"; diff -r gen .nexus/gen-check/gen | head -20; exit 1; }
	@rm -rf .nexus/gen-check
	@$(NPX) tsx scripts/api-reference.ts --check
	@$(NPX) tsx scripts/cli-reference.ts --check
	@$(NPX) tsx scripts/provider-templates.ts --check

lint: install ## buf lint, buf format and the TypeScript type check
	$(NPX) buf lint
	$(NPX) buf format -d --exit-code --exclude-path proto/google --exclude-path proto/grpc
	$(NPX) tsc -p tsconfig.json

typecheck: install
	$(NPX) tsc -p tsconfig.json

packages: install ## Build the npm packages fresh and pack each into .nexus/NAME-package/ (both targets below)
	$(NPX) tsx scripts/build-package.ts client cli

client-package: install ## Only the agent client, @nexus-broker/client, into .nexus/client-package/
	$(NPX) tsx scripts/build-package.ts client

cli-package: install ## Only the nexus command, @nexus-broker/cli, into .nexus/cli-package/
	$(NPX) tsx scripts/build-package.ts cli

test: install browser python deploy-tools check-gen lint packages docs-site ## Run every test against a real PostgreSQL
	$(NPX) tsx test/support/run-tests.ts
	@$(NPX) tsx scripts/release-check.ts stamp

run: install ## Start Broker and Gateway with an embedded PostgreSQL and development keys (RUNTIME=deno for Deno)
	$(NPX) tsx src/runtime/node/dev.ts --runtime=$(RUNTIME)

WEB_DIR ?= .nexus/web
web: install ## Build the web app into WEB_DIR (default .nexus/web); the Gateway serves it with GATEWAY_WEB_APP_DIR
	$(NPX) tsx src/runtime/node/build-web-app.ts $(WEB_DIR)

build: install ## Bundle Broker, Gateway, migrate and rewrap into plain JavaScript in .nexus/build/node (run with node, no tsx)
	$(NPX) tsx scripts/build-services.ts

broker: install ## Start the Broker, configured only by the environment
	$(NPX) tsx src/runtime/node/broker.ts

gateway: install ## Start the Gateway, configured only by the environment
	$(NPX) tsx src/runtime/node/gateway.ts

migrate: install ## Apply migrations to DATABASE_URL and exit
	$(NPX) tsx src/runtime/node/migrate.ts

rewrap: install ## Re-encrypt every secret with ENCRYPTION_ACTIVE_KEY and exit
	$(NPX) tsx src/runtime/node/rewrap.ts

BENCH_ARGS ?=
bench: build ## Benchmarks (not part of make test): refresh storm, then token retrieval with a 5-minute soak; see BENCHMARKS.md
	$(NPX) tsx bench/refresh-storm.ts --built
	$(NPX) tsx bench/token-retrieval.ts --built --soak 300 $(BENCH_ARGS)

docs-site: install ## Build the documentation site from docs/ (VitePress) into .nexus/site
	$(NPX) tsx scripts/build-docs-site.ts

DOCS_PORT ?= 4173
docs-serve: docs-site ## Build the documentation site and serve it on http://localhost:DOCS_PORT (default 4173)
	$(NPX) vitepress preview site --port $(DOCS_PORT)

TAG ?=
release-check: install python ## Refuse TAG=vX.Y.Z unless it matches VERSION and CHANGELOG.md, run make test unless it passed on this commit, then build the release into .nexus/release/
	@$(NPX) tsx scripts/release-check.ts check --tag "$(TAG)"
	@$(NPX) tsx scripts/release-check.ts tested || { echo "release-check: running make test"; $(MAKE) --no-print-directory test; }
	@$(NPX) tsx scripts/release-check.ts tested
	$(MAKE) --no-print-directory packages build docs-site
	$(NPX) tsx scripts/release-artifacts.ts

clean: ## Remove node_modules and local development data (.nexus/, and the data it links to when run as root)
	@# As root the data may live in a staging folder that .nexus/pgdata links to (src/runtime/node/postgres-placement.ts).
	@t="$$(readlink -f .nexus/pgdata 2>/dev/null)"; case "$$t" in */pgdata-??????) rm -rf "$$t";; esac
	rm -rf node_modules .nexus test-output
