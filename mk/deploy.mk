# Kubernetes delivery targets (deploy, undeploy, kustomize, build-container, push-container).
# The seed's variables and defaults; every target goes through the TypeScript commands
# (./bin/vpp-server.js render|deploy|undeploy|status), which validate the values first.
#
#   make deploy MACVLAN_MASTER=eno8403np1 VLAN_ID=123 IP_ADDRESS=192.168.123.150/24
#   make kustomize                            # the YAML on stdout, no cluster needed
#   make kustomize OUT=vpp-server.yaml        # the YAML into a file (free of build output)
#   make undeploy
#   make build-container push-container CONTAINER_IMAGE=quay.io/you/vpp-server:tag

CONTAINER_IMAGE ?= quay.io/vpp-server/vpp-server:latest
CONTAINER_IMAGE_VPP ?= quay.io/vpp-server/vpp:24.10
MACVLAN_MASTER ?= eno8403np1
VLAN_ID ?= 123
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
# extra flags for deploy/render, e.g. DEPLOY_FLAGS='--kubernetes --timeout 600'
DEPLOY_FLAGS ?=

VPP_SERVER := ./bin/vpp-server.js
# values are passed single-quoted: a stray space or newline reaches the validator, not the shell
deploy_args = --master '$(strip $(MACVLAN_MASTER))' --vlan '$(strip $(VLAN_ID))' --ip '$(strip $(IP_ADDRESS))' \
	--namespace '$(strip $(NAMESPACE))' --image '$(strip $(CONTAINER_IMAGE))' --image-vpp '$(strip $(CONTAINER_IMAGE_VPP))' \
	--engine '$(strip $(ENGINE))' $(if $(strip $(WWW_DIR)),--www-dir '$(strip $(WWW_DIR))') $(DEPLOY_FLAGS)

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

.PHONY: deploy undeploy kustomize deploy-status build-container build-container-vpp push-container push-container-vpp

kustomize: build
	@$(VPP_SERVER) render $(deploy_args) $(if $(strip $(OUT)),> '$(strip $(OUT)).tmp' && mv '$(strip $(OUT)).tmp' '$(strip $(OUT))' && echo "wrote $(strip $(OUT))" >&2 || { rm -f '$(strip $(OUT)).tmp'; exit 2; })

deploy: build
	$(VPP_SERVER) deploy $(deploy_args)

undeploy: build
	$(VPP_SERVER) undeploy --namespace '$(strip $(NAMESPACE))' $(DEPLOY_FLAGS)

deploy-status: build
	@$(VPP_SERVER) status --namespace '$(strip $(NAMESPACE))'

# build-container builds our image; with ENGINE=vpp also the FD.io VPP image
build-container: build
	$(need_engine_tool)
	$(CONTAINER_TOOL) build -f Containerfile -t '$(strip $(CONTAINER_IMAGE))' .
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
