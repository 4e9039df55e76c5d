# kd — the commands a newcomer runs: `make demo` (the main job), `make test`, `make decode-demo`.
# Each installs the Debian packages it needs when run as root, or names the missing ones.

BUILD_DEPS := libhdf5-dev libopenblas-dev zlib1g-dev pkg-config
TEST_DEPS  := hdf5-tools python3 python3-venv
DEMO_DEPS  := dataset-fashion-mnist hdf5-tools
KD := .build/release/kd
FASHION := /usr/share/datasets/fashion-mnist
H5PY_VENV := /tmp/kd-h5py

BENCH_ARCHS ?= teacher,s1,s2,s4,s8,resnet8,resnet20,resnet56,resnet8x4,wrn-16-1,wrn-40-2

.PHONY: all build deps test h5py decode-demo demo bench clean
all: build

deps:
	@Pipelines/ensure-deps.sh $(BUILD_DEPS)

build: deps
	swift build -c release

test: deps h5py
	@Pipelines/ensure-deps.sh $(TEST_DEPS)
	swift build -c release
	KD_H5PY_PYTHON=$(H5PY_VENV)/bin/python swift test -c release

# h5py, safetensors, numpy, onnx and onnxruntime (pip, in a venv) for the interop tests: kd's
# feature files and kd convert's safetensors read as Python users do, kd export's ONNX models
# run in onnxruntime (ExportTests).
h5py:
	@Pipelines/ensure-deps.sh $(TEST_DEPS)
	@$(H5PY_VENV)/bin/python -c 'import h5py, safetensors, numpy, onnx, onnxruntime' 2>/dev/null || \
	  { python3 -m venv $(H5PY_VENV) && $(H5PY_VENV)/bin/pip install -q h5py safetensors numpy onnx onnxruntime; }

decode-demo: build
	@Pipelines/ensure-deps.sh $(DEMO_DEPS)
	mkdir -p Data
	$(KD) decode $(FASHION) --pad 2 --out Data/fashion-mnist.h5
	$(KD) inspect Data/fashion-mnist.h5
	@echo "data store: Data/fashion-mnist.h5 (look inside: h5dump -H -p Data/fashion-mnist.h5)"

# The main job: the seed paper's three experiments (Pipelines/Makefile), the logit-
# distillation methods — baseline, KD, TAKD, DGKD (Pipelines/logits.mk) — and the CTKD
# experiment — baseline, KD, AT, CTKD (Pipelines/ctkd.mk), two seeds each, at demo scale on
# Fashion-MNIST, two kd processes side by side, then their report (about 15 minutes on 2
# cores). Stopped or failed, it continues where it was when run again.
demo: build
	@Pipelines/ensure-deps.sh $(DEMO_DEPS)
	@start=$$(date +%s); \
	$(MAKE) -C Pipelines -j2 DATA=fashion-mnist SCALE=demo SEEDS="0 1" report && \
	echo "demo done in $$(( $$(date +%s) - start )) s; report: Reports/fashion-mnist-demo/report.md"

# kd against its PyTorch twin (Benchmarks/torch_twin.py, in a venv Benchmarks/setup-torch.sh
# makes), alternating runs, medians, one table: every architecture of BENCH_ARCHS × train and
# inference × OpenBLAS as set and unset. Run it on an otherwise idle machine.
bench: build
	python3 Benchmarks/compare.py --kd $(KD) --archs $(BENCH_ARCHS) --markdown

clean:
	rm -rf .build
