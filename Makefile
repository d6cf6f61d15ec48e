# The two commands of the README: `make run` and `make test`. Both start from a fresh
# clone: they install the wasm target, build the adapters and sign them with a dev key.

SHELL        := /bin/bash
ADAPTERS_OUT := target/adapters
STAGING      := target/staging/adapters
DEVICES_STAGING := target/staging/devices
FIXTURES_OUT := target/adapter-fixtures
DEV_KEY      := target/dev-keys/dev
AUDIT_KEY    := target/dev-keys/audit
DEV_JWKS     := target/dev-keys/token.jwks
KEZEK        := target/release/kezek
MOCKS        := target/release/kezek-mocks

.PHONY: run test test-any-day adapters adapter dev-keys wasm-target bench clean-adapters

## Run the gateway on embedded defaults: every registry mocked on 127.0.0.1:8700.
run: adapters
	cargo build --release -p kezek -p kezek-mocks
	$(MOCKS) serve --listen 127.0.0.1:8700 --devices 127.0.0.1:8450 & mocks=$$!; \
	trap 'kill $$mocks' EXIT INT TERM; \
	$(KEZEK) serve --config deploy/dev/kezek.toml

## PostgreSQL tests are reported ignored unless KEZEK_TEST_POSTGRES_URL names a database; with
## one they are included, and then cannot pass without it (gateway/store/src/testing.rs).
PG_TESTS := $(if $(KEZEK_TEST_POSTGRES_URL),--include-ignored)

## Build and sign the adapters, then run every test: the adapters' own unit tests (native),
## then the workspace (gateway, mocks, end-to-end).
test: adapters
	cargo test --release --manifest-path adapters/Cargo.toml
	cargo test --release --workspace -- $(PG_TESTS) 2>&1 | tee target/workspace-tests.log; test $${PIPESTATUS[0]} -eq 0
	@if [ -n "$$KEZEK_REQUIRE_ANY_DAY" ] && grep -E 'ignored, |; [1-9][0-9]* ignored;' target/workspace-tests.log; then \
	  echo "every test must run here (KEZEK_REQUIRE_ANY_DAY): the tests above were ignored" >&2; exit 1; fi
	scripts/test-any-day $(PG_TESTS)

## The end-to-end suite again on a day 400 days from now (libfaketime; issue 8).
test-any-day: adapters
	scripts/test-any-day $(PG_TESTS)

wasm-target:
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

## Compile every adapter, device driver and fixture to a component, lay them out as packages
## in staging directories, then sign and install them into $(ADAPTERS_OUT) one package at a
## time, each in one step (`kezek adapters deploy`): a gateway watching $(ADAPTERS_OUT) never
## sees it emptied or half written, and one bad package does not leave the others unsigned.
## Device drivers go into the same directory; the catalogue tells them by their manifest's
## "wit" (ADR 0020).
adapters: wasm-target dev-keys
	cargo build --release --manifest-path adapters/Cargo.toml --target wasm32-wasip2
	mkdir -p $(ADAPTERS_OUT)
	scripts/package-adapters --registries $(STAGING) --devices $(DEVICES_STAGING) --fixtures $(FIXTURES_OUT); packaged=$$?; \
	$(KEZEK) adapters deploy --key $(DEV_KEY).key --to $(ADAPTERS_OUT) $(STAGING); deployed=$$?; \
	$(KEZEK) adapters deploy --key $(DEV_KEY).key --to $(ADAPTERS_OUT) $(DEVICES_STAGING); drivers=$$?; \
	test $$packaged -eq 0 && test $$deployed -eq 0 && test $$drivers -eq 0

## One adapter or device driver, e.g. `make adapter ID=tax-debt`: build it, stage it, sign
## and install it.
## With KEZEK_ADMIN_URL set, the running gateway reloads and prints what it did.
adapter: wasm-target dev-keys
	@test -n "$(ID)" || { echo "usage: make adapter ID=<adapter id>" >&2; exit 2; }
	cargo build --release --manifest-path adapters/Cargo.toml --target wasm32-wasip2 -p $(ID)
	mkdir -p $(ADAPTERS_OUT)
	scripts/package-adapters --registries $(STAGING) --devices $(DEVICES_STAGING) $(ID)
	$(KEZEK) adapters deploy --key $(DEV_KEY).key --to $(ADAPTERS_OUT) \
	  $$(if [ -d $(DEVICES_STAGING)/$(ID) ]; then echo $(DEVICES_STAGING); else echo $(STAGING); fi)/$(ID) \
	  $(if $(KEZEK_ADMIN_URL),--url $(KEZEK_ADMIN_URL))

## The development keys: adapter signing, audit anchors, the test identity provider.
dev-keys:
	cargo build --release -p kezek
	@test -f $(DEV_KEY).key || $(KEZEK) keygen --out $(DEV_KEY)
	@test -f $(AUDIT_KEY).key || $(KEZEK) keygen --out $(AUDIT_KEY)
	@test -f $(DEV_JWKS) || $(KEZEK) dev-token --config deploy/dev/kezek.toml --subject acc-001 >/dev/null

bench: adapters
	cargo bench -p kezek-tests

## Stop any gateway serving $(ADAPTERS_OUT) first.
clean-adapters:
	rm -rf $(ADAPTERS_OUT) $(STAGING) $(DEVICES_STAGING) $(FIXTURES_OUT)
