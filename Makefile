# authpool — see README.md.
GO      ?= go
BIN     := bin/authpool
SOCKET  ?= ./authpool.sock

.PHONY: all build test vet run clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/authpool

vet:
	$(GO) vet ./...
	@fmt=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi

# Every test, with the race detector.
test: vet
	$(GO) test -race -count=1 ./...

# The daemon on the bundled demo helper and its demo users, no configuration.
run: build
	@echo "Demo users: testscripts/demo-users.txt (alice@example.com / wonderland, bob@example.com / builder, ...)"
	@echo "In another terminal:"
	@echo "  printf wonderland | $(BIN) check --socket $(SOCKET) auth alice example.com"
	@echo '  echo auth:alice:example.com:wonderland | socat - UNIX-CONNECT:$(SOCKET)'
	@echo "Stop with Ctrl-C."
	$(BIN) serve --socket $(SOCKET) --processes 2 -- testscripts/sample.py

clean:
	rm -rf bin $(SOCKET)
