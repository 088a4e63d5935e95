# Convenience targets around meson/ninja and the container engine (the seed's
# Makefile: build, image, push). Plain `meson`/`ninja` work just as well.
#
#   make build                          release build in build-release/
#   make test                           debug+sanitizer build and all tests in build/
#   make image IMAGE=<registry>/ha-sync:<tag>
#   make push  IMAGE=<registry>/ha-sync:<tag>
#   make k8s-generate                   regenerate k8s/generated/ (the 12 CronJobs, 24 PV/PVCs)
#   make k8s-check                      render and validate k8s/ offline

VERSION   := $(shell sed -n "s/^ *version: *'\([^']*\)'.*/\1/p" meson.build | head -n 1)
REGISTRY  ?= 192.168.2.100:5000
IMAGE     ?= $(REGISTRY)/ha-sync:$(VERSION)
ENGINE    ?= $(shell command -v podman 2>/dev/null || command -v docker 2>/dev/null)
BUILD_DIR ?= build-release
TEST_DIR  ?= build

.PHONY: build test image push docker-build docker-push k8s-generate k8s-check k8s-render

build:
	@test -d $(BUILD_DIR) || meson setup $(BUILD_DIR) --buildtype=release -Dtests=false
	ninja -C $(BUILD_DIR)

test:
	@test -d $(TEST_DIR) || meson setup $(TEST_DIR) -Dwerror=true -Db_sanitize=address,undefined -Dbuildtype=debug
	ninja -C $(TEST_DIR)
	meson test -C $(TEST_DIR) --print-errorlogs

image:
	@test -n "$(ENGINE)" || { echo "neither podman nor docker is installed" >&2; exit 1; }
	$(ENGINE) build -f Containerfile -t $(IMAGE) .

push:
	@test -n "$(ENGINE)" || { echo "neither podman nor docker is installed" >&2; exit 1; }
	$(ENGINE) push $(IMAGE)

# The seed's target names.
docker-build: image
docker-push: push

k8s-generate:
	node k8s/generate.mjs

k8s-render:
	kubectl kustomize k8s/

k8s-check:
	npm ci --prefix tests/k8s
	node tests/k8s/run.mjs
