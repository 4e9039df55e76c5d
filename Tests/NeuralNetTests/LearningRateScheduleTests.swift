import Foundation
import NeuralNet
import Testing

@Suite struct LearningRateScheduleTests {
    private func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-12 * max(1, abs(b)) }

    @Test func constantNeverChanges() {
        let schedule = LearningRateSchedule(base: 0.1)
        #expect([0, 1, 50, 10_000].allSatisfy { schedule.rate(at: $0) == 0.1 })
    }

    @Test func stepDecaysByGammaEveryStepSize() {
        let schedule = LearningRateSchedule(base: 0.1, shape: .step(every: 30, gamma: 0.1))
        #expect(close(schedule.rate(at: 0), 0.1))
        #expect(close(schedule.rate(at: 29), 0.1))
        #expect(close(schedule.rate(at: 30), 0.01))
        #expect(close(schedule.rate(at: 65), 0.001))
    }

    @Test func cosineFallsFromBaseToMinimum() {
        let schedule = LearningRateSchedule(base: 0.1, shape: .cosine(total: 10, minimum: 0.001))
        #expect(close(schedule.rate(at: 0), 0.1))
        #expect(close(schedule.rate(at: 5), 0.001 + 0.099 / 2))
        // t = 2: (1 + cos(π/5))/2 of the way from the minimum
        #expect(close(schedule.rate(at: 2), 0.001 + 0.099 * (1 + cos(Double.pi / 5)) / 2))
        #expect(close(schedule.rate(at: 10), 0.001))
        #expect(close(schedule.rate(at: 12), 0.001))
    }

    @Test func warmUpRisesLinearlyThenTheShapeStarts() {
        let schedule = LearningRateSchedule(base: 0.2, shape: .cosine(total: 13, minimum: 0), warmup: 3)
        #expect(close(schedule.rate(at: 0), 0.05))
        #expect(close(schedule.rate(at: 1), 0.10))
        #expect(close(schedule.rate(at: 2), 0.15))
        #expect(close(schedule.rate(at: 3), 0.2))     // the cosine's start
        #expect(close(schedule.rate(at: 8), 0.1))     // half way through its 10 units
        #expect(close(schedule.rate(at: 13), 0))

        let stepped = LearningRateSchedule(base: 1, shape: .step(every: 2, gamma: 0.5), warmup: 1)
        #expect([0, 1, 2, 3, 4].map { stepped.rate(at: $0) } == [0.5, 1, 1, 0.5, 0.5])
    }

    @Test func schedulesRoundTripThroughJSON() throws {
        let schedule = LearningRateSchedule(base: 0.05, shape: .step(every: 7, gamma: 0.3), warmup: 2)
        let data = try JSONEncoder().encode(schedule)
        #expect(try JSONDecoder().decode(LearningRateSchedule.self, from: data) == schedule)
    }
}
