# Two commands set up everything on a fresh Debian machine:
#   make run    build, start a private PostgreSQL (unless ISSUANCE_DATABASE_URL is set),
#               migrate, create dev keys + demo data + demo kit, serve
#   make test   the whole suite with the race detector on a throwaway PostgreSQL
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
GO    ?= go

# Debian packages the project needs at run and test time.
DEB_PACKAGES := postgresql-15 fonts-ipamj-mincho fonts-nanum fonts-arphic-gbsn00lp poppler-utils qpdf python3-zeep openssl chromium prometheus systemd tesseract-ocr tesseract-ocr-jpn

RUN_STEPS := bin/issuance migrate && bin/issuance demo && exec bin/issuance serve --config var/issuance.yaml

.PHONY: run test deps build vet fuzz soak bench bench-soap bench-pki bench-render bench-sync clean

deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing >/dev/null; \
	fi

build:
	@mkdir -p bin
	$(GO) build -o bin/ ./cmd/...

run: deps build
	@mkdir -p var
	@if [ -n "$$ISSUANCE_DATABASE_URL" ]; then \
	  sh -c '$(RUN_STEPS)'; \
	else \
	  bin/devdb -dir var/pg -- sh -c '$(RUN_STEPS)'; \
	fi

# staticcheck is pinned as a tool in go.mod (go get -tool); no findings allowed.
vet:
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# Each fuzz target runs for FUZZTIME (one target per go test: -fuzz takes
# one); their corpora are testdata/fuzz/<target> of each package, and a
# crasher found is written there, to be fixed and kept.
FUZZTIME ?= 6s
FUZZ_TARGETS := soap:FuzzServeHTTP registry/feed:FuzzCSV registry/feed:FuzzFixed pki:FuzzValidate pki:FuzzCardFacts render/backside:FuzzVerifyScan

fuzz:
	@for t in $(FUZZ_TARGETS); do \
	  echo "fuzz $$t for $(FUZZTIME)"; \
	  out=$$($(GO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) ./$${t%%:*}/ 2>&1) || { echo "$$out"; exit 1; }; \
	  echo "$$out" | tail -1; \
	done

test: deps vet fuzz
	@mkdir -p bin
	$(GO) build -o bin/devdb ./cmd/devdb
	bin/devdb -ephemeral -- $(GO) test -race -count=1 -timeout 20m ./...

clean:
	rm -rf bin var

# The soak run (docs/soak.md; not in make test, it is long): SOAK_FLAGS
# passes flags to cmd/soak, e.g. make soak SOAK_FLAGS='-issuances 5000'.
soak: deps build
	@mkdir -p var
	bin/devdb -dir var/soak-pg -- bin/soak -var var/soak $(SOAK_FLAGS)

# Benchmarks report their figures as b.ReportMetric(v, "BENCH:<name>:<unit>");
# this turns each into a line "BENCH <name> <value> <unit>".
BENCHFMT := awk '{ for (i = 2; i <= NF; i++) if ($$i ~ /^BENCH:[a-z0-9_]+:/) { split($$i, a, ":"); print "BENCH", a[2], $$(i-1), a[3] } } /^(FAIL|panic|---)/ { print > "/dev/stderr" }'
DEVDB := bin/devdb -ephemeral --

bench: bench-pki bench-render bench-soap bench-sync

bin/devdb: $(wildcard cmd/devdb/*.go)
	@mkdir -p bin
	$(GO) build -o bin/devdb ./cmd/devdb

bench-soap: deps bin/devdb
	@$(DEVDB) $(GO) test -run '^$$' -bench 'KioskFlow' -benchtime 2000x ./cmd/issuance/ | $(BENCHFMT)

bench-pki: deps
	@$(GO) test -run '^$$' -bench 'PKI' -cpu 1 ./pki/ | $(BENCHFMT)

bench-render: deps bin/devdb
	@$(GO) test -run '^$$' -bench . -cpu 1 ./render/ | $(BENCHFMT)
	@$(GO) test -run '^$$' -bench 'VerifyScan|Compose|BacksideUnreadable|BacksideLegibility' -cpu 1 -timeout 30m ./render/backside/ | $(BENCHFMT)
	@$(DEVDB) $(GO) test -run '^$$' -bench 'VerifySite' -cpu 1 ./web/verify/ | $(BENCHFMT)

bench-sync: deps bin/devdb
	@$(DEVDB) $(GO) test -run '^$$' -bench 'Sync' -benchtime 1x -timeout 30m ./registry/ | $(BENCHFMT)
