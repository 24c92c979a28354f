# nodewatch: every target works on a fresh clone with Go installed; `make test` is what CI runs.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The container image builds with exactly these flags (see Dockerfile): static, trimmed, stamped.
LDFLAGS  := -s -w -X main.version=$(VERSION)
BUILDENV := CGO_ENABLED=0
BIN      := bin/nodewatch
STATICCHECK_VERSION := v0.8.2

.PHONY: build run test bench bench-scale bench-pools lint fuzz proof clean

build:
	$(BUILDENV) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/nodewatch

# The daemon with the built-in defaults: the public sources, events on stdout, ./nodewatch.db.
run: build
	./$(BIN) $(if $(CONFIG),--config $(CONFIG)) run

# The real kube-apiserver and etcd that the Kubernetes integration tests start on loopback
# (tracker/kubernetes/kubetest). They come from their own module, tools/kubeapiserver, so that
# nodewatch's go.mod never carries Kubernetes' server dependencies. File targets: built once,
# again only when that module's go.mod or go.sum changes (3.5 min cold on 2 cores, 135 MB).
KUBE_BINS     := bin/kube-apiserver bin/etcd
KUBE_TOOLS    := tools/kubeapiserver
KUBE_VERSION  := v1.36.3
KUBE_LDFLAGS  := -s -w -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 \
	-X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$(KUBE_VERSION))) \
	-X k8s.io/component-base/version.gitTreeState=clean

bin/kube-apiserver: $(KUBE_TOOLS)/go.mod $(KUBE_TOOLS)/go.sum
	cd $(KUBE_TOOLS) && $(BUILDENV) $(GO) build -trimpath -ldflags '$(KUBE_LDFLAGS)' -o $(CURDIR)/$@ k8s.io/kubernetes/cmd/kube-apiserver

bin/etcd: $(KUBE_TOOLS)/go.mod $(KUBE_TOOLS)/go.sum
	cd $(KUBE_TOOLS) && $(BUILDENV) $(GO) build -trimpath -ldflags '-s -w' -o $(CURDIR)/$@ go.etcd.io/etcd/server/v3

test: $(KUBE_BINS)
	$(GO) vet ./...
	$(GO) test -count=1 ./...

# The end-to-end ones run a fixed number of times, for medians: five cold backfills at full
# scale, ten idle daemon cycles.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -skip 'FullScale|DaemonIdle|Pools' ./...
	$(GO) test -run '^$$' -bench DaemonIdle -benchtime 10x ./cmd/nodewatch
	@$(MAKE) --no-print-directory bench-scale
	@$(MAKE) --no-print-directory bench-pools

# Every family at full scale, read by the real binary: cold backfills (median of 5) beside
# the floor of merely downloading the notes, idle cycles, queries, the idle daemon.
bench-scale:
	$(GO) test -run '^$$' -bench FullScale -benchtime 5x ./bench

# 5,000 AKS nodes in 300 pools in a real kube-apiserver (kubetest): the daemon's memory with
# and without them, a node's change seen in /api/v1/pools, `nodes -f` over them, binary size.
bench-pools: bin/kube-apiserver bin/etcd
	$(GO) test -run '^$$' -bench Pools -benchtime 1x -timeout 30m ./bench

# Every parser of upstream input, fuzzed briefly; each prints how many inputs it tried.
# Go 1.26's fuzz coordinator can fail a run with a bare "context deadline exceeded" at
# the end of -fuzztime while a worker is mid-input (golang/go#75804, fixed in Go 1.27):
# that is no failing input, and go test writes none. A run fails here when an input
# failed, which go test always writes to testdata/fuzz/<target>/, or on any other error.
FUZZTIME ?= 8s
FUZZ_TARGETS := tracker/vhdnotes:FuzzParse tracker/aksnotes:FuzzParseBody \
	tracker/flatcar:FuzzParseFeed tracker/flatcar:FuzzParseJSON tracker/config:FuzzLoad \
	tracker:FuzzParseNodeImageName tracker/nodefile:FuzzRead \
	tracker/vhdnotes:FuzzParsePackages tracker/ubuntusecurity:FuzzRead storage:FuzzCheck
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; corpus=$$pkg/testdata/fuzz/$$fn; note=""; \
		before=$$(ls $$corpus 2>/dev/null | wc -l); \
		if ! out=$$($(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 3s ./$$pkg 2>&1); then \
			after=$$(ls $$corpus 2>/dev/null | wc -l); \
			if [ "$$after" = "$$before" ] && echo "$$out" | grep -qx '    context deadline exceeded'; then \
				note=" (the coordinator's own deadline at the end, golang/go#75804: no input failed)"; \
			else echo "$$out"; exit 1; fi; \
		fi; \
		echo "$$fn ($$pkg): $$(echo "$$out" | grep -o 'execs: [0-9]*' | tail -1 | cut -d' ' -f2) inputs, no crash$$note"; \
	done

# The fault, crash and hostile-input suites, each saying how many cases it tried.
proof:
	@bash -o pipefail -c "$(GO) test -count=1 -v -run 'TestSourceFaults|TestCrashes|TestHostileNote|TestTokenNeverShows' \
		./tracker ./cmd/nodewatch | grep -E '^(ok|FAIL|--- [A-Z]+: Test[A-Za-z]+ )|faults tried|kills|repeated over'"

bin/staticcheck:
	GOBIN=$(CURDIR)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: bin/staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	bin/staticcheck ./...

clean:
	rm -rf bin out
