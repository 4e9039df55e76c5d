import Foundation

/// A reusable block of floats that a layer keeps between calls (column matrices, gathered
/// gradients, per-worker partial sums), so the hot path allocates nothing once warm.
/// It grows to the largest size asked for and never shrinks. Contents are undefined after a
/// growth. Cost: one allocation per growth.
final class ScratchBuffer: @unchecked Sendable {
    private(set) var pointer: UnsafeMutablePointer<Float>
    private var capacity: Int

    init() {
        capacity = 0
        pointer = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    }

    deinit { pointer.deallocate() }

    /// The buffer, holding at least `count` floats.
    func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            pointer.deallocate()
            pointer = UnsafeMutablePointer<Float>.allocate(capacity: count)
            capacity = count
        }
        return pointer
    }
}

/// One set of scratch buffers per worker of a parallel loop, indexed by the loop's part number.
final class WorkerScratch: @unchecked Sendable {
    private var buffers: [[ScratchBuffer]] = []
    private let perWorker: Int

    init(buffersPerWorker: Int) { perWorker = buffersPerWorker }

    /// The buffers of worker `part`; call `prepare(workers:)` before the parallel loop.
    func buffers(_ part: Int) -> [ScratchBuffer] { buffers[part] }

    /// Makes sure there are buffers for `workers` workers (outside the parallel loop).
    func prepare(workers: Int) {
        while buffers.count < workers { buffers.append((0..<perWorker).map { _ in ScratchBuffer() }) }
    }
}

/// The scratch that every convolution called from one thread shares: a network's layers run
/// one after another and keep nothing in their scratch between calls, so one set, as large as
/// the largest layer needs, serves the whole network — not one set per layer (for VGG-16 the
/// transformed kernels alone would be 16/9 of its weights again). Per calling thread, so that
/// networks run on several threads at once (the tests do) never share. Cost: one thread-local
/// look-up per layer call.
final class ConvolutionScratch: @unchecked Sendable {
    /// Per worker: column matrices, products, partial weight gradients.
    let workers = WorkerScratch(buffersPerWorker: 5)
    /// Winograd-transformed kernels.
    let kernels = ScratchBuffer()

    private static let key = "kd.ConvolutionScratch"

    /// The calling thread's set (made on first use).
    static var current: ConvolutionScratch {
        let dictionary = Thread.current.threadDictionary
        if let scratch = dictionary[key] as? ConvolutionScratch { return scratch }
        let scratch = ConvolutionScratch()
        dictionary[key] = scratch
        return scratch
    }
}
