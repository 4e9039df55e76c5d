import Distillation
import Foundation
import NeuralNet
import Testing

/// The objective as the training loop sees it: a weighted sum of named terms whose gradient is
/// the weighted sum of theirs, and DGKD's dropping — K distinct droppable terms per step,
/// uniformly, reproducibly from the generator's state.
@Suite struct ObjectiveTests {
    static let classes = 6
    static func batch(_ n: Int) -> (BatchRows, logits: [Float]) {
        var rng = RandomState(seed: 40)
        let set = ImageSet(split: "train", shape: [1, 1, 1], pixels: [UInt8](repeating: 0, count: n),
                           labels: (0..<n).map { $0 % classes }, sourceIndices: Array(0..<n))
        let logits = (0..<(n * classes)).map { _ in 3 * rng.normal() }
        return (BatchRows(set: set, rows: Array(0..<n)[...], views: nil), logits)
    }

    static func objective(alpha: Float, temperature: Float, teachers: Int = 1, drop: Int = 0) -> Objective {
        let (rows, _) = batch(4)
        var terms = [Objective.WeightedTerm(CrossEntropyTerm(), weight: 1 - alpha)]
        for t in 0..<teachers {
            var rng = RandomState(seed: 50 + UInt64(t))
            let logits = (0..<(rows.rows.count * classes)).map { _ in 2 * rng.normal() }
            terms.append(.init(LogitDistillationTerm(name: "kd/\(t)", temperature: temperature, logits: ["train": logits],
                                                     classes: classes), weight: alpha, droppable: true))
        }
        return Objective(terms: terms, classifies: true, dropPerStep: drop)
    }

    @Test(arguments: [(Float(0), Float(4)), (0.5, 1), (0.9, 4), (1, 8)])
    func weightedSumAndItsGradient(alpha: Float, temperature: Float) throws {
        let objective = Self.objective(alpha: alpha, temperature: temperature)
        let (rows, logits) = Self.batch(4)
        func evaluate(_ values: [Float]) throws -> (loss: Float, values: [Float?], grad: Tensor) {
            let result = try objective.evaluate([Objective.output: Tensor(shape: [4, Self.classes], data: values)], batch: rows)
            return (result.loss, result.values, result.gradients[Objective.output]!)
        }
        let (loss, values, grad) = try evaluate(logits)
        let ce = try #require(values[0]), kd = try #require(values[1])
        #expect(abs(loss - ((1 - alpha) * ce + alpha * kd)) <= 1e-6 * max(1, abs(loss)))
        // Central differences of the total in Double precision over every logit.
        for i in logits.indices {
            let step: Float = 1e-2
            var up = logits, down = logits
            up[i] += step
            down[i] -= step
            let numeric = (Double(try evaluate(up).loss) - Double(try evaluate(down).loss)) / Double(up[i] - down[i])
            #expect(abs(numeric - Double(grad.data[i])) <= 2e-3 * max(1, abs(numeric)), "logit \(i)")
        }
    }

    @Test func droppingLeavesOutKDistinctDroppableTermsUniformly() {
        let objective = Self.objective(alpha: 0.9, temperature: 4, teachers: 3, drop: 1)
        let (rows, _) = Self.batch(4)
        var rng = RandomState(seed: 9)
        var dropped = [0, 0, 0, 0]
        let steps = 3000
        for _ in 0..<steps {
            let plan = objective.plan(rows: rows.rows, set: rows.set, rng: &rng)
            #expect(plan.active[0], "cross-entropy is never dropped")
            #expect(plan.active.filter { !$0 }.count == 1)
            for (i, on) in plan.active.enumerated() where !on { dropped[i] += 1 }
        }
        for t in 1...3 {
            #expect(abs(Double(dropped[t]) / Double(steps) - 1.0 / 3) < 0.03, "teacher \(t): \(dropped[t]) of \(steps)")
        }
        // The same generator state draws the same plan; two of three dropped, one kept.
        let two = Self.objective(alpha: 0.9, temperature: 4, teachers: 3, drop: 2)
        var a = RandomState(seed: 11), b = RandomState(seed: 11)
        for _ in 0..<50 {
            let p = two.plan(rows: rows.rows, set: rows.set, rng: &a), q = two.plan(rows: rows.rows, set: rows.set, rng: &b)
            #expect(p.active == q.active)
            #expect(p.active.dropFirst().filter { $0 }.count == 1)
        }
        #expect(a == b)
        // A dropped term is left out of the loss and its value is not reported.
        let (batch, logits) = Self.batch(4)
        let result = try? objective.evaluate([Objective.output: Tensor(shape: [4, Self.classes], data: logits)], batch: batch,
                                             active: [true, false, true, true])
        #expect(result?.values[1] == nil && result?.values[2] != nil)
    }

    /// The attention term's gradient reaches the input through the student's tap: the input
    /// gradient of CE + β·AT(tap) over a small network equals central differences of that loss.
    @Test func attentionTermGradientThroughTheTap() throws {
        let model = try Model(try Architecture(jsonText: """
            {"name": "tapped", "input": [2, 6, 6], "taps": {"early": "stem"},
             "layers": [{"type": "sequential", "name": "stem", "layers": [
                          {"type": "conv", "out": 3, "kernel": 3, "padding": 1}, {"type": "relu"}]},
                        {"type": "conv", "out": 4, "kernel": 3, "stride": 2, "padding": 1}, {"type": "relu"},
                        {"type": "globalavgpool"}, {"type": "flatten"}],
             "head": {"out": 3, "name": "fc"}}
            """), seed: 3)
        var rng = RandomState(seed: 60)
        let n = 2
        let target = AttentionTransfer.maps(Tensor(shape: [n, 5, 6, 6], data: (0..<(n * 180)).map { _ in rng.normal() }))
        let set = ImageSet(split: "train", shape: [1, 1, 1], pixels: [0, 0], labels: [1, 2], sourceIndices: [0, 1])
        let rows = BatchRows(set: set, rows: [0, 1][...], views: nil)
        let objective = Objective(terms: [.init(CrossEntropyTerm()),
                                          .init(AttentionTransferTerm(tap: "early", maps: ["train": target.data], positions: 36),
                                                weight: 50)], classifies: true)
        func loss(_ x: Tensor) throws -> Double {
            Double(try objective.evaluate(objective.outputs(of: model, x, mode: .inference), batch: rows).loss)
        }
        let x = Tensor(shape: [n, 2, 6, 6], data: (0..<(n * 72)).map { _ in rng.normal() })
        let step = try objective.evaluate(objective.outputs(of: model, x, mode: .inference), batch: rows)
        #expect(step.values.allSatisfy { $0 != nil } && step.gradients.keys.sorted() == ["early", "output"])
        var taps = step.gradients
        let output = taps.removeValue(forKey: Objective.output)!
        let dx = model.backward(output, taps: taps)
        // A step may straddle a ReLU kink and a tiny one drowns in Float rounding: some step of
        // several must agree, as the layers' own checks do.
        for i in stride(from: 0, to: x.count, by: 5) {
            let quotients = try [Float(3e-2), 1e-2, 3e-3].map { h -> Double in
                var up = x, down = x
                up.data[i] += h
                down.data[i] -= h
                return (try loss(up) - loss(down)) / Double(up.data[i] - down.data[i])
            }
            let analytic = Double(dx.data[i])
            #expect(quotients.contains { abs($0 - analytic) <= 2e-2 * abs(analytic) + 2e-4 }, "input \(i): \(quotients) vs \(analytic)")
        }
    }

    /// CTKD's objective over two trainees: `l2/scratch` is the batch mean of the per-image
    /// squared logit distance; the sum's gradient by central differences over both trainees'
    /// logits equals the analytic one for the student, while the scratch teacher receives only
    /// its own cross-entropy's gradient (the l2 term's is detached from it).
    @Test func logitL2TermAndItsGradientWithTheScratchLogitsDetached() throws {
        let (rows, logits) = Self.batch(4)
        var rng = RandomState(seed: 80)
        let scratchLogits = (0..<logits.count).map { _ in 2 * rng.normal() }
        let scratch = Trainee.key(Objective.output, trainee: "scratch")
        #expect(scratch == "scratch/output")
        let gamma: Float = 0.3
        let objective = Objective(terms: [.init(CrossEntropyTerm(name: "ce/student")),
                                          .init(CrossEntropyTerm(name: "ce/scratch", input: scratch)),
                                          .init(LogitL2Term(peer: "scratch"), weight: gamma)], classifies: true)
        func evaluate(_ student: [Float], _ teacher: [Float]) throws -> (loss: Float, values: [Float?], gradients: [String: Tensor]) {
            try objective.evaluate([Objective.output: Tensor(shape: [4, Self.classes], data: student),
                                    scratch: Tensor(shape: [4, Self.classes], data: teacher)], batch: rows)
        }
        let step = try evaluate(logits, scratchLogits)
        let expectedL2 = zip(logits, scratchLogits).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / 4
        #expect(abs(Double(try #require(step.values[2])) - expectedL2) <= 1e-5 * expectedL2)
        #expect(abs(step.loss - (step.values[0]! + step.values[1]! + gamma * step.values[2]!)) <= 1e-5 * abs(step.loss))
        #expect(step.gradients.keys.sorted() == [Objective.output, scratch])
        // The student's gradient is that of the whole sum.
        for i in logits.indices {
            var up = logits, down = logits
            up[i] += 1e-2
            down[i] -= 1e-2
            let numeric = (Double(try evaluate(up, scratchLogits).loss) - Double(try evaluate(down, scratchLogits).loss))
                / Double(up[i] - down[i])
            let analytic = Double(step.gradients[Objective.output]!.data[i])
            #expect(abs(numeric - analytic) <= 2e-3 * max(1, abs(numeric)), "student logit \(i)")
        }
        // The scratch teacher's gradient is its cross-entropy's alone.
        let ownCE = softmaxCrossEntropy(logits: Tensor(shape: [4, Self.classes], data: scratchLogits),
                                        labels: rows.labels).grad
        #expect(step.gradients[scratch]!.data == ownCE.data)
    }

    /// `--kl-reduction mean` (TAKD's and DGKD's code) is the batch-mean term divided by the
    /// classes, value and gradient.
    @Test func meanReductionDividesByTheClasses() {
        let (rows, logits) = Self.batch(4)
        var rng = RandomState(seed: 70)
        let teacher = (0..<logits.count).map { _ in 2 * rng.normal() }
        let outputs = [Objective.output: Tensor(shape: [4, Self.classes], data: logits)]
        let batchmean = LogitDistillationTerm(name: "kd", temperature: 4, logits: ["train": teacher], classes: Self.classes)
        let mean = LogitDistillationTerm(name: "kd", temperature: 4, meanOverClasses: true, logits: ["train": teacher],
                                         classes: Self.classes)
        let a = batchmean.evaluate(outputs, batch: rows), b = mean.evaluate(outputs, batch: rows)
        #expect(abs(b.value - a.value / Float(Self.classes)) <= 1e-7)
        let ga = a.gradients[Objective.output]!.data, gb = b.gradients[Objective.output]!.data
        #expect(zip(ga, gb).allSatisfy { abs($0 / Float(Self.classes) - $1) <= 1e-8 })
    }
}
