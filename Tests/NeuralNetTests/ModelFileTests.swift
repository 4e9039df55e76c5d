import Foundation
import HDF5
import KDCore
import NeuralNet
import Testing

@Suite struct ModelFileTests {
    /// A folder removed after the test.
    final class Folder {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("kd-modelfile-\(UUID().uuidString)")
        init() throws { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
        func file(_ name: String) -> String { url.appendingPathComponent(name).path }
        deinit { try? FileManager.default.removeItem(at: url) }
    }

    /// A model whose BatchNorm statistics and weights have moved away from their initial values.
    private func trainedModel(_ architecture: Architecture) throws -> (Model, SGD) {
        let model = try Model(architecture, seed: 11)
        let sgd = try SGD(parameters: model.namedParameters, learningRate: 0.05, momentum: 0.9)
        var rng = RandomState(seed: 2)
        let x = Tensor(shape: [4] + architecture.input) { v in for i in v.indices { v[i] = rng.normal() } }
        for _ in 0..<2 {
            sgd.zeroGrad()
            let out = model.forward(x, mode: .training)
            _ = model.backward(softmaxCrossEntropy(logits: out, labels: [0, 1, 2, 3]).grad)
            sgd.step()
        }
        return (model, sgd)
    }

    private let small = ArchitectureCatalog.preset("small")!

    @Test func saveThenLoadGivesBitIdenticalWeightsAndOutputs() throws {
        let folder = try Folder()
        let (model, _) = try trainedModel(small)
        let path = folder.file("model.h5")
        try ModelFile.save(model, to: path)
        #expect(!FileManager.default.fileExists(atPath: path + ".partial"))

        let loaded = try ModelFile.load(path: path)
        #expect(loaded.architecture == small)
        #expect(loaded.stateDict.map(\.0) == model.stateDict.map(\.0))
        for ((_, a), (_, b)) in zip(model.stateDict, loaded.stateDict) {
            #expect(a.value.data.map(\.bitPattern) == b.value.data.map(\.bitPattern))
        }
        let x = Tensor(shape: [3, 3, 32, 32]) { v in for i in v.indices { v[i] = Float(i % 17) / 17 - 0.5 } }
        #expect(model.forward(x, mode: .inference) == loaded.forward(x, mode: .inference))

        let file = try H5File.open(path)
        #expect(try file.stringAttribute("kd_kind") == "model")
        #expect(try file.intAttribute("param_count") == model.parameterCount)
        #expect(try file.stringAttribute("kd_version") == Provenance.kdVersion)
        #expect(try Architecture(jsonText: try file.stringAttribute("arch")!) == small)
        #expect(try file.root.openGroup("params").openDataset("features.1.running_mean").shape == [16])
    }

    @Test func checkpointsKeepOptimizerStateAndExtras() throws {
        let folder = try Folder()
        let (model, sgd) = try trainedModel(small)
        let path = folder.file("epoch-0001.h5")
        try ModelFile.save(model, to: path, kind: .checkpoint, optimizer: sgd) { file in
            try file.setAttribute("epoch", 1)
        }
        let file = try H5File.open(path)
        #expect(try file.stringAttribute("kd_kind") == "checkpoint")
        #expect(try file.intAttribute("epoch") == 1)
        #expect(try ModelFile.optimizerState(in: file.root) == sgd.state)

        let resumed = try Model(small, seed: 99)
        try ModelFile.load(into: resumed, from: file.root)
        #expect(resumed.stateDict.map(\.1.value) == model.stateDict.map(\.1.value))
        let resumedSGD = try SGD(parameters: resumed.namedParameters, learningRate: 0.05, momentum: 0.9)
        try resumedSGD.restore(try ModelFile.optimizerState(in: file.root)!)
        #expect(resumedSGD.state == sgd.state)
    }

    @Test func anotherArchitectureIsRefusedNamingParameterAndShapes() throws {
        let folder = try Folder()
        let path = folder.file("s8.h5")
        try ModelFile.save(try Model(ArchitectureCatalog.preset("s8")!), to: path)
        let s4 = try Model(ArchitectureCatalog.preset("s4")!)
        let error = #expect(throws: StageError.self) { try ModelFile.load(into: s4, path: path) }
        #expect(error?.code == .dataErr)
        #expect(error?.message.contains(#"holds architecture "s8""#) == true)
        // s8 is "32 32 M …", s4 "32 M 32 …": features.4 is a BatchNorm in one, a conv in the other.
        #expect(error?.message.contains("parameter features.4.weight has shape [32] in the file "
                                        + "but [32, 32, 3, 3] in the model") == true)
    }

    @Test func wrongShapesUnderTheRightArchitectureAreRefused() throws {
        let folder = try Folder()
        let path = folder.file("forged.h5")
        // Weights of one network under the architecture attribute of another.
        try ModelFile.save(try Model(Architecture.vgg("net", "8", head: 10)!), to: path) { file in
            try file.setAttribute("arch", Architecture.vgg("net", "16", head: 10)!.jsonText)
        }
        let error = #expect(throws: StageError.self) { try ModelFile.load(path: path) }
        #expect(error?.code == .dataErr)
        #expect(error?.message.contains("parameter features.0.weight has shape [8, 3, 3, 3] in the file "
                                        + "but [16, 3, 3, 3] in the model") == true)
    }

    @Test func filesThatAreNotModelsAreRefused() throws {
        let folder = try Folder()
        let path = folder.file("data.h5")
        let file = try H5File.create(path)
        try file.setAttribute("kd_kind", "dataset")
        try file.close()
        let error = #expect(throws: StageError.self) { try ModelFile.load(path: path) }
        #expect(error?.code == .dataErr)
        #expect(error?.message.contains(#"not a kd model or checkpoint (kd_kind is "dataset")"#) == true)

        let missing = #expect(throws: StageError.self) { try ModelFile.load(path: folder.file("none.h5")) }
        #expect(missing?.code == .noInput)
    }

    @Test func aFailedSaveLeavesNoFile() throws {
        let folder = try Folder()
        let path = folder.file("model.h5")
        struct Interrupted: Error {}
        #expect(throws: Interrupted.self) {
            try ModelFile.save(try Model(self.small), to: path) { _ in throw Interrupted() }
        }
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(!FileManager.default.fileExists(atPath: path + ".partial"))
    }
}
