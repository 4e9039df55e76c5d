// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "kd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "kd", targets: ["kd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // C libraries from Debian: libhdf5-dev, libopenblas-dev, zlib1g-dev.
        .systemLibrary(name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5-serial",
                       providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),

        .target(name: "KDCore", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "HDF5", dependencies: ["CHDF5", "KDCore"]),
        .target(name: "Datasets", dependencies: ["HDF5", "CZlib", "KDCore"]),
        .target(name: "NeuralNet", dependencies: ["CBLAS", "HDF5", "KDCore"]),
        .target(name: "Distillation", dependencies: ["NeuralNet", "Datasets", "HDF5", "KDCore"]),
        // ONNX's protobuf schema as Swift, generated once (Sources/ONNXSchema/README.md).
        .target(name: "ONNXSchema", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
                exclude: ["onnx.proto", "README.md", "generate.sh"]),
        .target(name: "ONNXExport", dependencies: [
            "ONNXSchema", "Distillation", "NeuralNet", "KDCore",
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        .executableTarget(name: "kd", dependencies: [
            "ONNXExport", "Distillation", "NeuralNet", "Datasets", "HDF5", "KDCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Seeded input generation and mutation, shared by the fuzz tests of two test targets.
        .target(name: "FuzzSupport", path: "Tests/FuzzSupport"),
        .testTarget(name: "HDF5Tests", dependencies: ["HDF5", "CHDF5", "KDCore"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "HDF5", "KDCore", "FuzzSupport"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet", "HDF5", "KDCore"],
                    resources: [.copy("Fixtures")]),
        // End-to-end tests drive the real `kd` binary; depending on it makes `swift test` build it.
        .testTarget(name: "KDTests", dependencies: ["kd", "Distillation", "Datasets", "NeuralNet", "HDF5", "KDCore", "FuzzSupport"],
                    resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v6]
)
