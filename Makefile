# authpool — see README.md.
GO      ?= go
BIN     := bin/authpool
SOCKET  ?= ./authpool.sock

.PHONY: all build test vet run clean integration chaos bench install

all: build

build:
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/authpool

vet:
	$(GO) vet ./...
	@fmt=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi

# Every test, with the race detector. cmd/authpool runs real daemons, helpers
# and callers end to end: some six minutes on a loaded 2-CPU machine, so the
# per-package limit is above go test's default of 10m.
test: vet
	$(GO) test -race -count=1 -timeout 25m ./...

# Every fuzz target for FUZZTIME each, one after another (go test -fuzz
# takes one target at a time). Seed corpora: <pkg>/testdata/fuzz/<target>/,
# which make test runs too; an input that fails is written there.
FUZZTIME ?= 10s
.PHONY: fuzz
fuzz:
	$(GO) test -run=^$$ -fuzz=^FuzzParseRequest$$ -fuzztime=$(FUZZTIME) ./framing
	$(GO) test -run=^$$ -fuzz=^FuzzRequest$$ -fuzztime=$(FUZZTIME) ./framing
	$(GO) test -run=^$$ -fuzz=^FuzzAnswerDecoder$$ -fuzztime=$(FUZZTIME) ./framing
	$(GO) test -run=^$$ -fuzz=^FuzzReadFrame$$ -fuzztime=$(FUZZTIME) ./framing
	$(GO) test -run=^$$ -fuzz=^FuzzReadLine$$ -fuzztime=$(FUZZTIME) ./framing
	$(GO) test -run=^$$ -fuzz=^FuzzNative$$ -fuzztime=$(FUZZTIME) ./framing
	$(GO) test -run=^$$ -fuzz=^FuzzCodec$$ -fuzztime=$(FUZZTIME) ./server
	$(GO) test -run=^$$ -fuzz=^FuzzHTTPHandler$$ -fuzztime=$(FUZZTIME) ./server
	$(GO) test -run=^$$ -fuzz=^FuzzCommandLine$$ -fuzztime=$(FUZZTIME) ./cmd/authpool

# The daemon on the bundled demo helper and its demo users, no configuration.
# The helpers share a fresh copy of the users file, so a setpass through one
# is seen by both.
run: build
	@cp testscripts/demo-users.txt bin/demo-users.txt && chmod 600 bin/demo-users.txt
	@echo "Demo users: testscripts/demo-users.txt (alice@example.com / wonderland, bob@example.com / builder, ...)"
	@echo "Password changes go to bin/demo-users.txt, copied afresh on every make run."
	@echo "In another terminal:"
	@echo "  printf wonderland | $(BIN) check --socket $(SOCKET) auth alice example.com"
	@echo '  echo auth:alice:example.com:wonderland | socat - UNIX-CONNECT:$(SOCKET)'
	@echo "Stop with Ctrl-C."
	$(BIN) serve --socket $(SOCKET) --processes 2 -- testscripts/sample.py $(CURDIR)/bin/demo-users.txt

# The C echo helper for benchmarks. Without a C compiler, say so and go on:
# the benchmark then skips its rows.
CC ?= cc
bin/echo-helper: testscripts/echo.c
	@mkdir -p bin
	@if command -v $(CC) >/dev/null 2>&1; then \
		echo "$(CC) -O2 -o $@ $<"; $(CC) -O2 -o $@ $<; \
	else \
		echo "no C compiler ($(CC)): the benchmark will skip the C echo helper"; \
	fi

# Throughput and latency of a bare loop, the in-process pool and the daemon,
# on the same helpers, in one run (several minutes); writes BENCHMARKS.md.
# Go benchmarks: go test -run '^$$' -bench . ./framing ./pool ./server
bench: build bin/echo-helper
	$(GO) run ./bench/suite -authpool $(BIN) -echo bin/echo-helper -out BENCHMARKS.md

# The long chaos run: 50,000 requests per mode, at concurrency 64 over eight
# helpers that crash, hang, lie and flood at random (make test runs 2,000).
CHAOS_REQUESTS ?= 50000
chaos:
	AUTHPOOL_CHAOS_REQUESTS=$(CHAOS_REQUESTS) $(GO) test -race -count=1 -timeout 60m -run 'TestChaos' -v ./cmd/authpool

# Real callers on loopback, as they really call:
#   - ejabberd logging users in through authpool connect and authpool serve
#     (cmd/authpool/ejabberd_integration_test.go);
#   - Prosody's mod_auth_external_insecure, played by a Lua script driving
#     the real lpty (built for Lua 5.4 from Debian's lua-lpty source) through
#     authpool-connect (cmd/authpool/prosody_integration_test.go).
#   - go-sendxmpp logging in to examples/xmppd, a Go XMPP server that
#     embeds the pool (examples/xmppd/xmppd_integration_test.go).
# As root it installs what is missing from Debian.
INTEGRATION_PKGS := ejabberd go-sendxmpp openssl lua5.4 liblua5.4-dev gcc dpkg-dev
integration:
	@missing=; for p in $(INTEGRATION_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "make integration: missing$$missing; run as root to install them" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	contrib/prosody/build-lpty.sh bin/lpty
	AUTHPOOL_LPTY_DIR=$(CURDIR)/bin/lpty $(GO) test -tags integration -count=1 -run 'TestEjabberd|TestProsody' -v ./cmd/authpool
	$(GO) test -tags integration -count=1 -run 'TestGoSendxmpp' -v ./examples/xmppd

# The binary; authpool-connect, a link that runs "authpool connect" for
# callers that cannot pass arguments (Prosody's external_auth_command); the
# systemd units (ExecStart pointing at this PREFIX); bash completion; an
# example config as
# /etc/authpool/authpool.toml unless one exists. As root with no DESTDIR it
# also creates the system user the unit runs as (authpool), if missing.
PREFIX      ?= /usr/local
DESTDIR     ?=
SYSTEMD_DIR ?= /etc/systemd/system
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/authpool
	ln -sf authpool $(DESTDIR)$(PREFIX)/bin/authpool-connect
	install -d $(DESTDIR)$(SYSTEMD_DIR)
	sed 's|/usr/local/bin/authpool|$(PREFIX)/bin/authpool|' contrib/systemd/authpool.service > $(DESTDIR)$(SYSTEMD_DIR)/authpool.service
	install -m 0644 contrib/systemd/authpool.socket $(DESTDIR)$(SYSTEMD_DIR)/authpool.socket
	install -D -m 0644 contrib/bash-completion/authpool $(DESTDIR)/usr/share/bash-completion/completions/authpool
	install -d -m 0755 $(DESTDIR)/etc/authpool
	@if [ -e $(DESTDIR)/etc/authpool/authpool.toml ]; then \
	  echo "kept $(DESTDIR)/etc/authpool/authpool.toml"; \
	else \
	  install -m 0644 contrib/authpool.toml.example $(DESTDIR)/etc/authpool/authpool.toml && \
	  echo "installed $(DESTDIR)/etc/authpool/authpool.toml: set the helper command in it"; \
	fi
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && ! id authpool >/dev/null 2>&1; then \
	  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin authpool && \
	  echo "created the system user authpool, which authpool.service runs as"; \
	fi
	@echo "then: systemctl daemon-reload && systemctl enable --now authpool.socket"

clean:
	rm -rf bin $(SOCKET)
