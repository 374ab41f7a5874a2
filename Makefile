# Berth: `make up` builds and starts Berth on this machine; `make test` runs every test.
SHELL := /bin/bash
DOTNET ?= dotnet
CONFIG ?= Release
OUT := $(CURDIR)/out
RID := linux-x64
export DOTNET_CLI_TELEMETRY_OPTOUT := 1
export DOTNET_NOLOGO := 1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE := 1

.PHONY: all deps build build-dotnet runtime shim cni cli native base-images test test-unprivileged up bench clean

all: build

## Debian packages listed in deps/*.apt (only what is missing; apt-get update only then).
deps:
	@build/apt-install.sh

## Every executable into out/.
build: deps build-dotnet runtime shim cni native cli

build-dotnet:
	$(DOTNET) build Berth.slnx -c $(CONFIG) --nologo -v q -clp:NoSummary

## berth-runtime links out/.native/libberth-spawn.a (made by `native`).
runtime: build-dotnet native
	$(DOTNET) publish src/Berth.Runtime.Cli/Berth.Runtime.Cli.csproj -c $(CONFIG) -r $(RID) --nologo -v q -o $(OUT)/.publish/berth-runtime
	@mkdir -p $(OUT)
	install -m 0755 $(OUT)/.publish/berth-runtime/berth-runtime $(OUT)/berth-runtime

## berth-shim (NativeAOT): one per container, started by the daemon.
shim: build-dotnet
	$(DOTNET) publish src/Berth.Shim.Cli/Berth.Shim.Cli.csproj -c $(CONFIG) -r $(RID) --nologo -v q -o $(OUT)/.publish/berth-shim
	@mkdir -p $(OUT)
	install -m 0755 $(OUT)/.publish/berth-shim/berth-shim $(OUT)/berth-shim

## berth-cni (NativeAOT): Berth's CNI plugins, one executable named by a link per plugin in out/cni/.
cni: build-dotnet
	$(DOTNET) publish src/Berth.Networking.Cni/Berth.Networking.Cni.csproj -c $(CONFIG) -r $(RID) --nologo -v q -o $(OUT)/.publish/berth-cni
	@mkdir -p $(OUT)/cni
	install -m 0755 $(OUT)/.publish/berth-cni/berth-cni $(OUT)/berth-cni
	for p in bridge host-local portmap; do ln -sfn ../berth-cni $(OUT)/cni/$$p; done

## Native helpers next to berth-runtime: berth-userns (user namespaces need a single-threaded process), berth-init,
## and the static spawn library berth-runtime links.
native:
	build/build-native.sh $(OUT)

## berth (CLI, daemon, registry), NativeAOT: no JIT and no framework to load, for the CLI's start and the daemon's
## idle memory. berth-server (ReadyToRun; KubernetesClient and YamlDotNet need reflection) hosts `berth server`:
## berth execve()s it from beside its own real path. See docs/design/cli.md.
cli: build-dotnet
	$(DOTNET) publish src/Berth.Cli/Berth.Cli.csproj -c $(CONFIG) -r $(RID) --nologo -v q -o $(OUT)/.publish/berth-aot
	$(DOTNET) publish src/Berth.Server.Cli/Berth.Server.Cli.csproj -c $(CONFIG) -r $(RID) --self-contained false -p:PublishReadyToRun=true --nologo -v q -o $(OUT)/.publish/berth-server
	@mkdir -p $(OUT)
	rm -f $(OUT)/berth
	install -m 0755 $(OUT)/.publish/berth-aot/berth $(OUT)/berth
	ln -sfn .publish/berth-server/berth-server $(OUT)/berth-server

## Base images without a network: busybox from the host's busybox-static, Debian with debootstrap (slow).
BERTH_ROOT ?= /var/lib/berth
base-images: cli
	$(OUT)/berth images-dev busybox --root $(BERTH_ROOT)
	$(OUT)/berth images-dev debian --root $(BERTH_ROOT)

## Every test, privileged ones included (as root), ending with "N passed, N failed, N skipped".
test: build
	@build/run-tests.sh

## Tests that need no root (for a developer's non-root run).
test-unprivileged: build-dotnet
	@build/run-tests.sh --filter "Category!=Privileged"

## Builds, then starts Berth on this machine and says what to do next.
up: build
	@build/up.sh

bench: build
	@for b in bench/*.sh; do echo "== $$b"; bash $$b || exit 1; done

clean:
	rm -rf out src/*/bin src/*/obj tests/*/bin tests/*/obj
