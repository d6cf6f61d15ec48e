# The two commands of the README: `make run` and `make test`. Both start from a fresh
# clone: they install the wasm target, build the adapters and sign them with a dev key.

ADAPTERS_OUT := target/adapters
FIXTURES_OUT := target/adapter-fixtures
DEV_KEY      := target/dev-keys/dev
KEZEK        := target/release/kezek
MOCKS        := target/release/kezek-mocks

.PHONY: run test adapters wasm-target bench clean-adapters

## Run the gateway on embedded defaults: every registry mocked on 127.0.0.1:8700.
run: adapters
	cargo build --release -p kezek -p kezek-mocks
	$(MOCKS) serve --listen 127.0.0.1:8700 & mocks=$$!; \
	trap 'kill $$mocks' EXIT INT TERM; \
	$(KEZEK) serve --config deploy/dev/kezek.toml

## Build and sign the adapters, then run every test: the adapters' own unit tests (native),
## then the workspace (gateway, mocks, end-to-end).
test: adapters
	cargo test --release --manifest-path adapters/Cargo.toml
	cargo test --release --workspace

wasm-target:
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

## Compile every adapter and fixture to a component and lay them out as packages.
adapters: wasm-target
	cargo build --release --manifest-path adapters/Cargo.toml --target wasm32-wasip2
	cargo build --release -p kezek
	scripts/package-adapters $(ADAPTERS_OUT) $(FIXTURES_OUT)
	@test -f $(DEV_KEY).key || $(KEZEK) keygen --out $(DEV_KEY)
	@if ls $(ADAPTERS_OUT)/*/manifest.json >/dev/null 2>&1; then $(KEZEK) adapters sign --key $(DEV_KEY).key $(ADAPTERS_OUT)/*/; fi

bench: adapters
	cargo bench -p kezek-tests

clean-adapters:
	rm -rf $(ADAPTERS_OUT) $(FIXTURES_OUT)
