# byoda: build, test and generate. `make help` lists the targets.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

export GOTOOLCHAIN := local
export GOFLAGS := -buildvcs=false
# Static binaries everywhere (the images need them); one setting for tools,
# tests and images lets them share compiled packages. -race sets its own.
export CGO_ENABLED ?= 0

ROOT := $(abspath .)
BIN := $(ROOT)/bin
# envtest finds kube-apiserver, etcd and kubectl here (built by hack/tools.sh).
export KUBEBUILDER_ASSETS := $(BIN)

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X github.com/byoda-go/byoda/internal/version.Version=$(VERSION) \
	-X github.com/byoda-go/byoda/internal/version.Commit=$(COMMIT)

# Packages under test; integration tests start real components from bin/.
PKGS ?= ./...
TEST_TIMEOUT ?= 40m
GO_TEST ?= go test -timeout $(TEST_TIMEOUT)

CONTROLLER_GEN := $(BIN)/controller-gen
HELM := $(BIN)/helm
OPERATOR_CHART := charts/byoda-operator
DIRECTORY_CHART := charts/byoda-directory

##@ General

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
		/^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } \
		/^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: build
build: ## Build the byoda binary into bin/byoda
	go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/byoda .

.PHONY: run
run: build ## Run a whole local network: DNS, CAs, the demo service and four pods on loopback (state in bin/devnet)
	$(BIN)/byoda devnet --dir $(BIN)/devnet

.PHONY: run-pod
run-pod: build ## Build byoda and run one pod on loopback with the sample contract (data in bin/run)
	BYODA=$(BIN)/byoda RUN_DIR=$(BIN)/run hack/run-pod.sh

.PHONY: generate
generate: ## Generate code (deepcopy, apply configurations) from the API types
	@if [ -d api ]; then \
		$(MAKE) --no-print-directory tools TOOLS=controller-gen; \
		$(CONTROLLER_GEN) object applyconfiguration paths=./api/...; \
	else echo "no api/ yet: nothing to generate"; fi

.PHONY: manifests
manifests: ## Generate CRDs and RBAC into config/, and copy them into the operator's chart
	@if [ -d api ]; then \
		$(MAKE) --no-print-directory tools TOOLS=controller-gen; \
		$(CONTROLLER_GEN) crd rbac:roleName=manager-role paths="./api/...;./controllers/..." \
			output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac; \
	else echo "no api/ yet: no manifests to generate"; fi
	@# The chart's CRDs and role rules are copies, never edited by hand.
	rm -f $(OPERATOR_CHART)/crds/*.yaml
	cp config/crd/bases/*.yaml $(OPERATOR_CHART)/crds/
	cp config/rbac/role.yaml $(OPERATOR_CHART)/files/role.yaml

.PHONY: fmt
fmt: ## Format all Go code
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet
	go vet $(PKGS)

.PHONY: lint-charts
lint-charts: ## Lint the Helm charts (helm lint --strict; the directory chart in its namespace)
	@$(MAKE) --no-print-directory tools TOOLS=helm
	$(HELM) lint --strict --namespace byoda-system $(OPERATOR_CHART)
	$(HELM) lint --strict --namespace cert-manager $(DIRECTORY_CHART)

.PHONY: lint
lint: ## Run staticcheck (pinned, built into bin/)
	@$(MAKE) --no-print-directory tools TOOLS=staticcheck
	$(BIN)/staticcheck $(PKGS)

.PHONY: verify
verify: generate manifests lint ## Check generated code, manifests, go mod tidy, gofmt, vet and lint
	go mod tidy -diff
	@for m in hack/tools/*/; do (cd $$m && go mod tidy -diff) || { echo "go mod tidy needed in $$m"; exit 1; }; done
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet $(PKGS)
	@if [ -n "$$(git status --porcelain -- api config charts)" ]; then \
		echo "generated files are out of date: run make generate manifests and commit"; \
		git status --short -- api config charts; exit 1; fi
	$(MAKE) --no-print-directory lint-charts
	@echo "verify: ok"

##@ Test

.PHONY: test
test: tools pdns postgres node images ## Run every test: unit, integration with real components, end to end, and on a one-node cluster (root)
	$(GO_TEST) $(PKGS)
	@if [ "$$(id -u)" -eq 0 ]; then $(MAKE) --no-print-directory e2e; \
	else echo "test: the one-node cluster suites need root; run make e2e as root"; fi

.PHONY: test-unit
test-unit: ## Run only the tests that need no external component (go test -short)
	$(GO_TEST) -short $(PKGS)

.PHONY: test-race
test-race: tools pdns postgres ## Run every test with the race detector
	CGO_ENABLED=1 $(GO_TEST) -race $(PKGS)

.PHONY: e2e
e2e: node images ## Start a one-node Kubernetes cluster (root), check it, install both charts on it and run the end-to-end suite
	@$(MAKE) --no-print-directory tools TOOLS="etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl helm cert-manager external-dns"
	@$(MAKE) --no-print-directory pdns
	BYODA_CLUSTER=1 $(GO_TEST) -count=1 -p 1 ./test/cluster/... ./test/e2e/cluster/

.PHONY: e2e-kind
e2e-kind: ## Run the same end-to-end suite on a new kind cluster (needs Docker, kind and cloud-provider-kind; see hack/e2e-kind.sh)
	hack/e2e-kind.sh

.PHONY: bench
bench: tools pdns postgres ## Run the benchmarks (results go in docs/benchmarks.md)
	go test -run '^$$' -bench . -benchmem $(PKGS)

##@ Tools

.PHONY: tools
tools: ## Build the pinned test tools into bin/ (only what is missing or changed)
	hack/tools.sh $(TOOLS)

.PHONY: pdns
pdns: ## Install PowerDNS and dnsutils from Debian when missing
	hack/pdns.sh

.PHONY: postgres
postgres: ## Install PostgreSQL from Debian when missing (the registry tests start their own)
	hack/postgres.sh

.PHONY: node
node: ## Install containerd, runc, the CNI plugins and iptables from Debian when missing (test/cluster)
	hack/node.sh

.PHONY: images
images: ## Build the end-to-end test images (static binaries, docker-archive) into bin/images
	go run ./hack/images -out $(BIN)/images -ldflags '$(LDFLAGS)'

.PHONY: clean
clean: ## Remove the byoda binary (keeps the tool cache in bin/.cache)
	rm -f $(BIN)/byoda
