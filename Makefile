# Postwall. `make run` serves the whole product on http://127.0.0.1:8080;
# `make test` runs every test. Both install what they need on first use.

SHELL := /bin/bash
.DEFAULT_GOAL := build

GO        ?= go
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
TOOLS     := $(CURDIR)/.tools
NODE_DIR  := $(TOOLS)/node
NODE_BIN  := $(NODE_DIR)/node_modules/.bin
DYNALITE_VERSION := 4.0.0
CDK_CLI_VERSION  := 2.1148.1
S3RVER_VERSION   := 3.7.1
AXE_VERSION      := 4.14.1
LIGHTHOUSE_VERSION := 12.2.3
LAMBDAS   := api authorizer ws fanout sweep media

WASM      := app/site/web/app.wasm
GO_SOURCES := $(shell find . -name '*.go' -not -path './.tools/*' -not -path './cdk/*' 2>/dev/null) go.mod go.sum

.PHONY: run build wasm web lambdas test test-go test-cdk lint tools tools-node tools-browser tools-rie \
        bench screenshots perf synth bootstrap deploy clean fuzz

## run: build, then serve everything on http://127.0.0.1:8080 with the embedded store in .data/
run: build
	./bin/postwall serve

## build: bin/postwall, one self-contained binary with the PWA inside
build: bin/postwall

# The last VERSION built, rewritten only when it differs: a new VERSION
# rebuilds, the same one does not. EMBEDDED: files the binary embeds.
VERSION_STAMP := .cache/version
$(shell mkdir -p .cache; [ "$$(cat $(VERSION_STAMP) 2>/dev/null)" = "$(VERSION)" ] || printf '%s' '$(VERSION)' > $(VERSION_STAMP))
EMBEDDED := $(shell find app/site/web backend/local/cognito/templates backend/local/cognito/static -type f -not -name 'app.wasm*' 2>/dev/null)

bin/postwall: $(WASM) $(GO_SOURCES) $(EMBEDDED) $(VERSION_STAMP)
	$(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $@ ./backend/cmd/postwall

## wasm: the PWA's app.wasm, precompressed (brotli and gzip) next to it
wasm: $(WASM)

$(WASM): $(shell find app backend/wall -name '*.go' 2>/dev/null) go.mod go.sum $(VERSION_STAMP)
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $@ ./app/cmd/wasm
	$(GO) run ./app/cmd/precompress $@

## web: the static site for Amplify in build/web, configured from POSTWALL_* variables
web: $(WASM)
	rm -rf build/web
	POSTWALL_VERSION="$${POSTWALL_VERSION:-$(VERSION)}" $(GO) run ./app/cmd/web -out build/web

## lambdas: one linux/arm64 bootstrap (and zip) per Lambda under bin/lambda/
lambdas:
	@for f in $(LAMBDAS); do \
	  echo "building lambda $$f"; \
	  mkdir -p bin/lambda/$$f && \
	  GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags "-s -w" \
	    -o bin/lambda/$$f/bootstrap ./backend/cmd/$$f || exit 1; \
	  rm -f bin/lambda/$$f.zip && (cd bin/lambda/$$f && zip -q -X ../$$f.zip bootstrap) || exit 1; \
	done

## test: every test (Go with -race, the browser tests, the CDK assertions)
test: tools build lambdas
	$(GO) vet ./...
	POSTWALL_REQUIRE_DYNALITE=1 POSTWALL_REQUIRE_TOOLS=1 $(GO) test -race -timeout 12m $$($(GO) list ./... | grep -v /cdk)
	$(GO) test -timeout 12m ./cdk/...

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt-ed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## tools: npm packages into .tools/ (git-ignored) and Debian packages when missing
tools: tools-node tools-browser tools-rie

tools-node: $(NODE_BIN)/dynalite $(NODE_BIN)/cdk $(NODE_BIN)/s3rver $(NODE_DIR)/node_modules/axe-core/axe.min.js

$(NODE_BIN)/dynalite $(NODE_BIN)/cdk $(NODE_BIN)/s3rver $(NODE_DIR)/node_modules/axe-core/axe.min.js:
	mkdir -p $(NODE_DIR)
	npm install --no-audit --no-fund --save-exact --prefix $(NODE_DIR) dynalite@$(DYNALITE_VERSION) aws-cdk@$(CDK_CLI_VERSION) \
	  s3rver@$(S3RVER_VERSION) axe-core@$(AXE_VERSION)

# Lighthouse only for make perf: it is large and the tests do not need it.
$(NODE_BIN)/lighthouse:
	mkdir -p $(NODE_DIR)
	npm install --no-audit --no-fund --save-exact --prefix $(NODE_DIR) lighthouse@$(LIGHTHOUSE_VERSION)

tools-browser:
	@command -v chromium >/dev/null || { \
	  echo "installing chromium (browser tests)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@command -v zip >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zip >/dev/null; }

# tools-rie: AWS's Lambda Runtime Interface Emulator into .tools/bin, and qemu
# to run the arm64 bootstraps under it on other CPUs (backend/cmd/lambdatest).
tools-rie:
	@test -x $(TOOLS)/bin/aws-lambda-rie || { \
	  echo "installing aws-lambda-rie (Lambda boot tests)"; \
	  GOBIN=$(TOOLS)/bin $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d; }
	@command -v qemu-aarch64-static >/dev/null || { \
	  echo "installing qemu-user-static (arm64 Lambda bootstraps)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static >/dev/null; }

## bench: the benchmarks whose figures are in README.md's Performance section
bench: tools build lambdas
	$(GO) test -run '^$$' -bench Fanout -benchtime 50x -timeout 40m ./backend/local/server
	$(GO) test -run '^$$' -bench IdleConnection -benchtime 1x ./backend/local/server
	$(GO) test -run '^$$' -bench ListPosts -benchtime 2000x -count 3 ./backend/bolt
	$(GO) test -run '^$$' -bench 'ThreadPage|NotificationsPage|LikesOnOnePost|CreatePost|Open' -benchtime 2s ./backend/bolt
	$(GO) test -run '^$$' -bench ListPostsFirstPage -benchtime 200x -count 3 ./backend/dynamo
	$(GO) test -run '^$$' -bench ConversationPages -benchtime 200x ./backend/dynamo
	$(GO) test -run '^$$' -bench 'BroadcastFanout|StreamBatch' -benchtime 3x ./backend/apigw
	$(GO) test -run '^$$' -bench LambdaStart -benchtime 20x ./backend/cmd
	$(GO) test -run '^$$' -bench 12MP -benchmem -benchtime 5x ./backend/media
	$(GO) test -run '^$$' -bench ListUserPosts -benchtime 2000x -count 3 ./backend/bolt
	$(GO) test -run '^$$' -bench UserPostsFirstPage -benchtime 200x -count 3 ./backend/dynamo
	@ls -l bin/lambda/*/bootstrap bin/lambda/*.zip
	@ls -l $(WASM) $(WASM).br $(WASM).gz

## fuzz: each fuzz target for a minute (FUZZTIME=10s for less), starting from testdata/fuzz/
fuzz:
	@failed=""; for target in \
	    backend/wall:FuzzNormalizeText backend/wall:FuzzParsePostQuery backend/wall:FuzzValidID \
	    backend/wall:FuzzIDTime backend/wall:FuzzIDSource backend/wall:FuzzPostJSON \
	    backend/handler:FuzzSocketFrame backend/handler:FuzzAPIQuery app/live:FuzzParseFrame; do \
	  pkg=$${target%%:*}; name=$${target##*:}; \
	  echo "fuzzing $$name in ./$$pkg for $${FUZZTIME:-1m}"; \
	  $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime "$${FUZZTIME:-1m}" ./$$pkg || failed="$$failed $$name"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzzing found failures in:$$failed (inputs saved under testdata/fuzz/)"; exit 1; fi

## screenshots: the feed at phone and desktop sizes, light and dark, into build/screenshots
screenshots: build tools-browser
	POSTWALL_SCREENSHOTS=$(CURDIR)/build/screenshots $(GO) test -count=1 -run TestScreenshots ./app/browsertest

## perf: load times of the PWA in headless Chromium, and Lighthouse's mobile scores of the landing and the feed (reports in build/perf)
perf: build tools-browser $(NODE_BIN)/lighthouse
	POSTWALL_PERF=1 POSTWALL_REQUIRE_TOOLS=1 $(GO) test -count=1 -timeout 30m -run 'TestLoadTimes|TestLighthouse' -v ./app/browsertest

## synth: the CloudFormation template in cdk/cdk.out
synth: tools-node lambdas
	cd cdk && $(NODE_BIN)/cdk synth -q

## bootstrap: prepare the current AWS account and region for CDK (once)
bootstrap: tools-node
	cd cdk && $(NODE_BIN)/cdk bootstrap

## deploy: build the Lambdas and deploy the stack (settings: CDK_ARGS="-c key=value ...")
deploy: tools-node lambdas
	cd cdk && $(NODE_BIN)/cdk deploy --require-approval broadening $(CDK_ARGS)

clean:
	rm -rf bin build .cache cdk/cdk.out app/site/web/app.wasm app/site/web/app.wasm.br app/site/web/app.wasm.gz
