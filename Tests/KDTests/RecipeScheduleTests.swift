import Distillation
import Foundation
import Testing

/// A recipe's learning rate moves every step: warm-up and cosine run through an epoch (so a
/// one-epoch run can warm up and anneal), step decays land on epoch boundaries.
@Suite struct RecipeScheduleTests {
    private func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-12 * max(1, abs(b)) }

    @Test func oneEpochWarmsUpThenAnnealsWithinTheEpoch() throws {
        var recipe = Recipe()
        recipe.epochs = 1; recipe.learningRate = 0.1; recipe.schedule = "cosine"; recipe.warmupEpochs = 0.2
        try recipe.validate()
        let schedule = recipe.learningRateSchedule(stepsPerEpoch: 10)
        // 2 warm-up steps at 1/3 and 2/3 of the base, then cosine over the 8 steps left
        #expect(close(schedule.rate(at: 0), 0.1 / 3))
        #expect(close(schedule.rate(at: 1), 0.2 / 3))
        #expect(close(schedule.rate(at: 2), 0.1))
        #expect(close(schedule.rate(at: 6), 0.05))
        #expect(close(schedule.rate(at: 9), 0.1 * (1 + cos(Double.pi * 7 / 8)) / 2))
    }

    @Test func stepDecaysOnEpochBoundaries() {
        var recipe = Recipe()
        recipe.epochs = 5; recipe.learningRate = 1; recipe.schedule = "step"; recipe.stepSize = 2; recipe.gamma = 0.5
        let schedule = recipe.learningRateSchedule(stepsPerEpoch: 7)
        #expect(schedule.rate(at: 13) == 1)
        #expect(schedule.rate(at: 14) == 0.5)
        #expect(schedule.rate(at: 28) == 0.25)
    }

    @Test func stepsLeaveOutALoneLastImage() {
        var recipe = Recipe()
        recipe.batchSize = 128
        #expect(recipe.stepsPerEpoch(images: 128) == 1)
        #expect(recipe.stepsPerEpoch(images: 129) == 1)
        #expect(recipe.stepsPerEpoch(images: 130) == 2)
    }

    @Test func warmUpMustEndBeforeTheRun() {
        var recipe = Recipe()
        recipe.epochs = 2; recipe.warmupEpochs = 2
        #expect(throws: (any Error).self) { try recipe.validate() }
        recipe.warmupEpochs = 1.5
        #expect(throws: Never.self) { try recipe.validate() }
    }
}
