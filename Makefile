# vpp-server — the two commands of the README are `make demo` and `make test`.
# Both work as root on a fresh Debian 12 machine from a clean clone: they install what they need.

SHELL := /bin/bash
NODE_MODULES := node_modules/.installed
NATIVE := build/Release/af_packet.node
DIST := dist/.built
LAB_PREFIX ?= vpplab
# pods on the lab's worker (make demo LAB_REPLICAS=2: two pods, own MAC and address each)
LAB_REPLICAS ?= 1

# Debian packages the tests, the lab and the bench use.
SYSTEM_PACKAGES := iproute2 iputils-ping curl tshark tcpdump wrk nginx-light hping3 nftables \
                   libcap2-bin procps python3 make g++ ethtool prometheus nghttp2-client testssl.sh openssl \
                   python3-scapy libssl-dev

.PHONY: all build deps system-deps test test-unit test-e2e test-tls demo lab-up lab-down lab-status bench clean

all: build

system-deps:
	@scripts/install-system-deps.sh $(SYSTEM_PACKAGES)

$(NODE_MODULES): package.json
	npm install --no-audit --no-fund --ignore-scripts
	@touch $@

$(NATIVE): native/af_packet.c native/tls_engine.c binding.gyp $(NODE_MODULES)
	npm run build:native

$(DIST): $(NODE_MODULES) $(shell find src test bench -name '*.ts' 2>/dev/null) tsconfig.json
	@# A fresh dist: a test deleted or renamed in src must not keep running from an old .js.
	rm -rf dist
	npx --no-install tsc -p tsconfig.json
	@touch $@

build: $(NATIVE) $(DIST)

deps: system-deps $(NODE_MODULES)

test: deps build
	@scripts/run-tests.sh

test-unit: build
	@scripts/run-tests.sh unit

test-e2e: deps build
	@scripts/run-tests.sh e2e

# The TLS scanner suite (testssl.sh against a lab pod, ~20 s to 2 min): called by .ci/run.
test-tls: deps build
	@scripts/run-tests.sh tls

demo: deps build
	./bin/vpp-server.js lab demo --prefix $(LAB_PREFIX) --replicas $(LAB_REPLICAS)

lab-up: deps build
	./bin/vpp-server.js lab up --prefix $(LAB_PREFIX) --replicas $(LAB_REPLICAS)

lab-down: build
	./bin/vpp-server.js lab down --prefix $(LAB_PREFIX)

lab-status: build
	./bin/vpp-server.js lab status --prefix $(LAB_PREFIX)

bench: deps build
	node dist/bench/bench.js

clean:
	rm -rf dist build

include mk/deploy.mk
