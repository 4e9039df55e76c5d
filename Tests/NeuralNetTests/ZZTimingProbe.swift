import Foundation
import NeuralNet
import Testing
@Test func zzTimingProbe() throws {
    let model = try Model(ArchitectureCatalog.preset("teacher")!, seed: 0)
    let sgd = try SGD(parameters: model.namedParameters, learningRate: 0.01, momentum: 0.9)
    for (_, p) in model.namedParameters { for i in p.grad.data.indices { p.grad.data[i] = 0.001 } }
    sgd.step()
    let path = "/tmp/nets/probe.h5"
    let c = ContinuousClock()
    let t0 = c.now
    try ModelFile.save(model, to: path, kind: .checkpoint, optimizer: sgd)
    let t1 = c.now
    let m2 = try ModelFile.load(path: path)
    let t2 = c.now
    let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
    print("PROBE save \(t1 - t0) load \(t2 - t1) bytes \(size) params \(m2.parameterCount)")
    #expect(size > 0)
}
