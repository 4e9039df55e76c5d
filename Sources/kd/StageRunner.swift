import ArgumentParser
import Foundation
import KDCore
import NeuralNet

/// Runs the body of a subcommand and turns a `StageError` into its message on standard error
/// and its sysexits code, so every subcommand fails the same way.
///
/// A failed stage exits at once (`_exit`), without the libraries' exit-time teardown: after a
/// failed write (a full disk) HDF5's teardown tries to flush the abandoned file again and can
/// crash. Everything the stage keeps is already on disk or removed by then.
func runStage(_ name: String, _ body: () throws -> Void) throws {
    defer { OutputLock.releaseAll() }   // a finished stage leaves no lock file behind
    do {
        try BLASKernelFamily.check()   // before any work: a wrong family would die mid-stage
        try body()
    } catch let error as StageError {
        OutputLock.releaseAll()
        Console.error("kd \(name): error: \(error.message)\n")
        fflush(nil)   // every C stream: what was printed before the error
        _exit(error.code.rawValue)
    }
}
