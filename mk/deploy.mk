# Kubernetes delivery targets (deploy, undeploy, kustomize, build-container, push-container).
# The seed's variables and defaults; every target goes through the TypeScript commands
# (./bin/vpp-server.js render|deploy|undeploy|status), which validate the values first.
#
#   make deploy MACVLAN_MASTER=eno8403np1 VLAN_ID=123 IP_ADDRESS=192.168.123.150/24
#   make deploy ... IP_ADDRESS=192.168.123.150/24 IPV6_ADDRESS=2001:db8:123::150/64   # dual stack
#   make deploy ... IP_ADDRESS=2001:db8:123::150/64 GATEWAY6=fe80::1                   # IPv6-only
#   make kustomize                            # the YAML on stdout, no cluster needed
#   make kustomize OUT=vpp-server.yaml        # the YAML into a file (free of build output)
#   make undeploy
#   make build-container push-container CONTAINER_IMAGE=quay.io/you/vpp-server:tag

CONTAINER_IMAGE ?= quay.io/vpp-server/vpp-server:latest
CONTAINER_IMAGE_VPP ?= quay.io/vpp-server/vpp:24.10
MACVLAN_MASTER ?= eno8403np1
VLAN_ID ?= 123
# IPv4 (the seed's), or IPv6 for an IPv6-only pod (no IPv4 address, uri tcp://::/80; GATEWAY6, not GATEWAY)
IP_ADDRESS ?= 192.168.123.150/24
NAMESPACE ?= vpp-server
# ts: our dataplane (only NET_RAW); vpp: FD.io VPP 24.10 from Containerfile.vpp
ENGINE ?= ts
# a local directory of web content, shipped as a ConfigMap (empty: the default index.html)
WWW_DIR ?=
# podman, or docker where podman is absent; override with CONTAINER_TOOL=docker
CONTAINER_TOOL ?= $(shell command -v podman 2>/dev/null || command -v docker 2>/dev/null)
# kustomize writes here instead of stdout when set
OUT ?=
# pods: 1 (the seed's Deployment) or more (a StatefulSet, one pod per node, pod n on IP_ADDRESS + n)
REPLICAS ?= 1
# optional next hop of the IPv4 default route (ip route add 0.0.0.0/0 via GATEWAY host-macvlan0.VLAN_ID); refused with an IPv6 IP_ADDRESS
GATEWAY ?=
# optional dual stack: an IPv6 address beside an IPv4 IP_ADDRESS (e.g. 2001:db8:123::150/64); GATEWAY6: the next hop
# of the IPv6 default route (dual stack or IPv6-only), link-local or on the IPv6 prefix
IPV6_ADDRESS ?=
GATEWAY6 ?=
# extra flags for deploy/render, e.g. DEPLOY_FLAGS='--kubernetes --timeout 600'
DEPLOY_FLAGS ?=
# OCI labels of the image: version and source revision
IMAGE_VERSION := $(shell node -p "require('./package.json').version" 2>/dev/null || echo unknown)
IMAGE_REVISION := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# without any user:token@ a clone URL may carry (the label is public once the image is pushed)
IMAGE_SOURCE ?= $(shell git remote get-url origin 2>/dev/null | sed -E 's#//[^@/]*@#//#')
# The labels are passed twice: as build args (the Containerfile's own LABEL step, which is what
# a plain `podman build .` or `docker build .` gets) and as --label. Buildah's layer cache keys a
# LABEL step on its unexpanded text and an ARG step on the argument's name only, so with build
# args alone a new commit with unchanged sources kept the previous commit's revision. Buildah
# 1.24+ (podman 4+) turns each --label into a final LABEL step of literal text, which is part of
# its cache key; older buildah applies --label only when it commits a new image, not on a full
# cache hit, so build-container checks the label after the build. Single quotes in a value are
# escaped for the shell (a remote URL is not trusted to be free of them).
shell_quote = '$(subst ','\'',$(1))'
image_labels = --label org.opencontainers.image.version=$(call shell_quote,$(IMAGE_VERSION)) \
	--label org.opencontainers.image.revision=$(call shell_quote,$(IMAGE_REVISION)) \
	--label org.opencontainers.image.source=$(call shell_quote,$(IMAGE_SOURCE))
image_build_args = --build-arg VERSION=$(call shell_quote,$(IMAGE_VERSION)) --build-arg REVISION=$(call shell_quote,$(IMAGE_REVISION)) \
	--build-arg SOURCE=$(call shell_quote,$(IMAGE_SOURCE)) $(image_labels)


VPP_SERVER := ./bin/vpp-server.js
# values are passed single-quoted: a stray space or newline reaches the validator, not the shell
deploy_args = --master '$(strip $(MACVLAN_MASTER))' --vlan '$(strip $(VLAN_ID))' --ip '$(strip $(IP_ADDRESS))' \
	--namespace '$(strip $(NAMESPACE))' --image '$(strip $(CONTAINER_IMAGE))' --image-vpp '$(strip $(CONTAINER_IMAGE_VPP))' \
	--engine '$(strip $(ENGINE))' --replicas '$(strip $(REPLICAS))' $(if $(strip $(GATEWAY)),--gateway '$(strip $(GATEWAY))') \
	$(if $(strip $(IPV6_ADDRESS)),--ipv6 '$(strip $(IPV6_ADDRESS))') $(if $(strip $(GATEWAY6)),--gateway6 '$(strip $(GATEWAY6))') $(if $(strip $(WWW_DIR)),--www-dir '$(strip $(WWW_DIR))') $(DEPLOY_FLAGS)

define need_engine_tool
	@if [ -z "$(CONTAINER_TOOL)" ]; then \
		echo "$@: neither podman nor docker is installed. Install one (apt-get install -y podman) or set CONTAINER_TOOL=/path/to/podman." >&2; \
		echo "$@: the images can also be built elsewhere from Containerfile and Containerfile.vpp (see docs/deploy.md)." >&2; \
		exit 127; \
	fi
	@if ! $(CONTAINER_TOOL) info >/dev/null 2>&1; then \
		echo "$@: $(CONTAINER_TOOL) is installed but cannot reach its engine ('$(CONTAINER_TOOL) info' fails): start the daemon/service, or use podman, which needs none." >&2; \
		exit 125; \
	fi
endef

# The commands' exit codes (docs/deploy.md): make itself always exits 2 when a recipe fails, so
# the recipes print the command's own code; ./bin/vpp-server.js deploy … returns it directly.
define report_exit
|| { rc=$$?; echo "make $@: ./bin/vpp-server.js $(1) exited $$rc: $(2) (docs/deploy.md, exit codes)" >&2; exit $$rc; }
endef
exit_meaning = $$(case $$rc in 1) echo 'cluster or API error';; 2) echo 'invalid options or values';; 3) echo 'timed out, or nothing deployed';; *) echo 'see its message';; esac)

.PHONY: deploy undeploy kustomize status deploy-status build-container build-container-vpp push-container push-container-vpp

kustomize: build
	@$(VPP_SERVER) render $(deploy_args) $(if $(strip $(OUT)),> '$(strip $(OUT)).tmp' && mv '$(strip $(OUT)).tmp' '$(strip $(OUT))' && echo "wrote $(strip $(OUT))" >&2 || { rm -f '$(strip $(OUT)).tmp'; exit 2; })

deploy: build
	@$(VPP_SERVER) deploy $(deploy_args) $(call report_exit,deploy,$(exit_meaning))

undeploy: build
	@$(VPP_SERVER) undeploy --namespace '$(strip $(NAMESPACE))' $(DEPLOY_FLAGS) $(call report_exit,undeploy,$(exit_meaning))

# make status: every pod with its address, node and readiness (exit 0 all available, 1 not yet, 3 not deployed)
status: build
	@$(VPP_SERVER) status --namespace '$(strip $(NAMESPACE))' $(call report_exit,status,$(exit_meaning))

# the older name
deploy-status: status

# build-container builds our image; with ENGINE=vpp also the FD.io VPP image
build-container: build
	$(need_engine_tool)
	$(CONTAINER_TOOL) build $(image_build_args) -f Containerfile -t '$(strip $(CONTAINER_IMAGE))' .
	@got="$$($(CONTAINER_TOOL) image inspect -f '{{index .Config.Labels "org.opencontainers.image.revision"}}' '$(strip $(CONTAINER_IMAGE))')"; \
	  [ "$$got" = $(call shell_quote,$(IMAGE_REVISION)) ] || { echo "build-container: the image's revision label is '$$got', not $(IMAGE_REVISION): the builder reused a cached image of another commit (buildah older than 1.24 ignores --label on a full cache hit); rebuild with: $(CONTAINER_TOOL) build --no-cache … or upgrade podman/buildah" >&2; exit 1; }
	$(if $(filter vpp,$(strip $(ENGINE))),$(CONTAINER_TOOL) build -f Containerfile.vpp -t '$(strip $(CONTAINER_IMAGE_VPP))' .)

build-container-vpp: build
	$(need_engine_tool)
	$(CONTAINER_TOOL) build -f Containerfile.vpp -t '$(strip $(CONTAINER_IMAGE_VPP))' .

push-container: build
	$(need_engine_tool)
	$(CONTAINER_TOOL) push '$(strip $(CONTAINER_IMAGE))'
	$(if $(filter vpp,$(strip $(ENGINE))),$(CONTAINER_TOOL) push '$(strip $(CONTAINER_IMAGE_VPP))')

push-container-vpp: build
	$(need_engine_tool)
	$(CONTAINER_TOOL) push '$(strip $(CONTAINER_IMAGE_VPP))'

# ---- the image in the test suite (issue 13) -------------------------------------------------
# make test-image: builds Containerfile unchanged on local stand-ins for node:20-bookworm(-slim)
# (test scaffolding, never pushed; cached by a hash of their inputs) and runs the image with runc
# as the kubelet runs it. Root only; called by .ci/run after make test. make test-image-clean
# removes the stand-ins and the test image (the next run starts cold).
.PHONY: test-image test-image-clean
test-image: deps build
	@scripts/test-image/run.sh

# the image build flags as build-container passes them (test/image/image-labels.test.ts builds with them)
.PHONY: print-image-build-args
print-image-build-args:
	$(info $(image_build_args))@:

test-image-clean:
	@scripts/test-image/clean.sh
