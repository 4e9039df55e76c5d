import Datasets
import Distillation
import Foundation
import HDF5
import NeuralNet
import Testing

/// Attention maps in the feature store and attention transfer through the real binary: the
/// stored a(x) of an image is the map of a direct forward pass's tap, plain and per view;
/// `kd distill --method at` trains on them with a column per tap; a store without maps and a
/// student whose tap has another spatial size are refused naming the problem.
@Suite(.serialized) struct AttentionTests {
    @Test func storedMapsAreThoseOfADirectForwardAndTeach() throws {
        let dir = try TempDir()
        let store = try SyntheticStore.make(in: dir, train: 200, test: 100)
        let trained = try KDProcess.run(["train", "--arch", "resnet8", "--data", store, "--out", dir.file("t"),
                                         "--epochs", "1", "--batch-size", "32", "--threads", "2"])
        #expect(trained.status == 0, "\(trained.stderr)")
        let features = dir.file("expert.h5")
        let e = try KDProcess.run(["extract", "--model", dir.file("t/model.h5"), "--data", store, "--out", features,
                                   "--attention", "group1,group2,group3", "--views", "2", "--batch", "50",
                                   "--threads", String(ComputeThreads.count)])
        #expect(e.status == 0, "\(e.stderr)")

        // The stored maps equal a(x) of the taps of a direct forward, plain and per view.
        let teacher = try TrainedModel.load(path: dir.file("t/model.h5"))
        let file = try FeatureStore(path: features)
        let images = try ImageSet.load(try DataStore(path: store), split: "train")
        let train = try file.split("train")
        #expect(train.attentionWidths == ["group1": 256, "group2": 64, "group3": 16])   // 16², 8², 4² on 16×16 inputs
        let crops = FeatureExtraction.viewParams(count: images.count, views: 2, seed: 0)
        for view in 0..<2 {
            let direct = ExtractTests.direct(images, normalization: teacher.normalization, batch: 50,
                                             crops: view == 0 ? nil : (0..<images.count).map { crops[$0 * 2 + 1] }) { x in
                let taps = teacher.model.forward(x, mode: .prediction, taps: ["group1", "group2", "group3"]).taps
                return ["group1", "group2", "group3"].map { AttentionTransfer.maps(taps[$0]!) }
            }
            for (k, tap) in ["group1", "group2", "group3"].enumerated() {
                let stored = view == 0 ? try train.readAttention(tap, 0 ..< train.count)
                    : ExtractTests.view(1, of: 2, in: try train.readViewAttention(tap, 0 ..< train.count),
                                        width: train.attentionWidths[tap]!)
                #expect(ExtractTests.bits(stored) == ExtractTests.bits(direct[k]), "\(tap), view \(view)")
            }
        }
        let inspect = try KDProcess.run(["inspect", features])
        #expect(inspect.status == 0 && inspect.stdout.contains("attention"), "\(inspect.stdout)")

        // Attention transfer alone, with the stored views: a column per tap.
        let at = try KDProcess.run(["distill", "--method", "at", "--arch", "resnet8", "--data", store, "--targets", features,
                                    "--augment", "--out", dir.file("at"), "--epochs", "2", "--batch-size", "32",
                                    "--threads", "2"])
        #expect(at.status == 0, "\(at.stderr)")
        let header = try String(contentsOfFile: dir.file("at/metrics.csv"), encoding: .utf8).split(separator: "\n")[0]
        #expect(header.hasSuffix(",train_ce,test_ce,train_at/group1,test_at/group1,train_at/group2,test_at/group2,"
                                 + "train_at/group3,test_at/group3"), "\(header)")
        #expect(try H5File.open(dir.file("at/model.h5")).stringArrayAttribute("attention") == ["group1", "group2", "group3"])

        // Combined with KD: the logits' term and the maps' terms side by side.
        let both = try KDProcess.run(["distill", "--method", "kd", "--attention", "group2", "--beta", "500", "--arch", "resnet8",
                                      "--data", store, "--targets", features, "--out", dir.file("kd-at"), "--epochs", "1",
                                      "--batch-size", "32", "--threads", "2"])
        #expect(both.status == 0, "\(both.stderr)")
        let kdHeader = try String(contentsOfFile: dir.file("kd-at/metrics.csv"), encoding: .utf8).split(separator: "\n")[0]
        #expect(kdHeader.hasSuffix(",train_ce,test_ce,train_kd/resnet8,test_kd/resnet8,train_at/group2,test_at/group2"),
                "\(kdHeader)")

        // Refusals: a store without maps; a student whose tap has another spatial size.
        let plain = dir.file("plain.h5")
        #expect(try KDProcess.run(["extract", "--model", dir.file("t/model.h5"), "--data", store, "--out", plain,
                                   "--threads", "2"]).status == 0)
        let noMaps = try KDProcess.run(["distill", "--method", "at", "--arch", "resnet8", "--data", store, "--targets", plain,
                                        "--out", dir.file("no-maps")])
        #expect(noMaps.status == 65 && noMaps.stderr.contains(plain) && noMaps.stderr.contains("no attention maps"),
                "\(noMaps.stderr)")
        let shifted = dir.file("shifted.json")
        var architecture = try ArchitectureCatalog.resolve("resnet8")
        architecture.taps["group1"] = "layer2"   // 8×8 where the stored group1 is 16×16
        try architecture.jsonText.write(toFile: shifted, atomically: true, encoding: .utf8)
        let mismatch = try KDProcess.run(["distill", "--method", "at", "--attention", "group1", "--arch", shifted,
                                          "--data", store, "--targets", features, "--out", dir.file("mismatch")])
        #expect(mismatch.status == 65, "\(mismatch.stderr)")
        #expect(mismatch.stderr.contains("[32, 8, 8]") && mismatch.stderr.contains("256 positions"), "\(mismatch.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("mismatch/model.h5")))
    }
}
