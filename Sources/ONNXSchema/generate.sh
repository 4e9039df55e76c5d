#!/usr/bin/env bash
# Regenerates onnx.pb.swift from onnx.proto; see README.md beside this script for the versions.
#   PROTOC_GEN_SWIFT=/path/to/protoc-gen-swift Sources/ONNXSchema/generate.sh
set -euo pipefail
cd "$(dirname "$0")"
: "${PROTOC_GEN_SWIFT:?set PROTOC_GEN_SWIFT to a protoc-gen-swift built from swift-protobuf 1.39.0}"
protoc --plugin=protoc-gen-swift="$PROTOC_GEN_SWIFT" --swift_opt=Visibility=Public --swift_out=. onnx.proto
