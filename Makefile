# kd — the two commands a newcomer runs: `make decode-demo` (the main job so far) and `make test`.
# Each installs the Debian packages it needs when run as root, or names the missing ones.

BUILD_DEPS := libhdf5-dev libopenblas-dev zlib1g-dev pkg-config
TEST_DEPS  := hdf5-tools python3 python3-venv
DEMO_DEPS  := dataset-fashion-mnist hdf5-tools
KD := .build/release/kd
FASHION := /usr/share/datasets/fashion-mnist

.PHONY: all build deps test decode-demo clean
all: build

deps:
	@Pipelines/ensure-deps.sh $(BUILD_DEPS)

build: deps
	swift build -c release

test: deps
	@Pipelines/ensure-deps.sh $(TEST_DEPS)
	swift build -c release
	swift test -c release

decode-demo: build
	@Pipelines/ensure-deps.sh $(DEMO_DEPS)
	mkdir -p Data
	$(KD) decode $(FASHION) --pad 2 --out Data/fashion-mnist.h5
	$(KD) inspect Data/fashion-mnist.h5
	@echo "data store: Data/fashion-mnist.h5 (look inside: h5dump -H -p Data/fashion-mnist.h5)"

clean:
	rm -rf .build
