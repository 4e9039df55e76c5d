/// A dense Float32 array with a shape: NCHW for images, [N, D] for vectors. One contiguous
/// buffer (row-major), so a layer hands it straight to BLAS. Value semantics with
/// copy-on-write (a Swift array underneath): copying is free until one side writes.
public struct Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var data: [Float]

    /// A tensor of `shape` filled with `value`. Cost: one allocation of `count` floats.
    public init(shape: [Int], repeating value: Float = 0) {
        self.shape = shape
        self.data = [Float](repeating: value, count: shape.reduce(1, *))
    }

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count,
                     "Tensor: shape \(shape) needs \(shape.reduce(1, *)) values, got \(data.count)")
        self.shape = shape
        self.data = data
    }

    /// Number of elements.
    public var count: Int { data.count }

    /// Size of the first axis (the batch).
    public var batch: Int { shape.first ?? 0 }

    /// Elements per sample: the product of every axis but the first.
    public var sampleSize: Int { shape.dropFirst().reduce(1, *) }

    /// The same data under another shape with as many elements. Cost: none (shares storage).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, data: data)
    }
}

extension Tensor {
    /// A tensor of `shape` whose every value `initialize` writes. Cost: one allocation and no
    /// fill, for outputs a layer overwrites whole.
    public init(shape: [Int], initializingWith initialize: (UnsafeMutableBufferPointer<Float>) -> Void) {
        let n = shape.reduce(1, *)
        self.shape = shape
        self.data = [Float](unsafeUninitializedCapacity: n) { buffer, initialized in
            initialize(buffer)
            initialized = n
        }
    }
}

extension Optional where Wrapped == Tensor {
    /// `body` with a pointer to the tensor's values, or nil when there is no tensor (an empty
    /// array's buffer can still have an address, so `(t?.data ?? [])` would not say which).
    public func withUnsafeValues<R>(_ body: (UnsafePointer<Float>?) throws -> R) rethrows -> R {
        guard let tensor = self else { return try body(nil) }
        return try tensor.data.withUnsafeBufferPointer { try body($0.baseAddress) }
    }
}

extension Tensor {
    /// self += other, element by element (the same count): two paths meeting, forward or
    /// backward, or gradients summed. Cost: one pass, split over the workers.
    public mutating func add(_ other: Tensor) {
        precondition(other.count == count, "Tensor.add: \(other.shape) into \(shape)")
        data.withUnsafeMutableBufferPointer { d in
            other.data.withUnsafeBufferPointer { e in
                ComputeThreads.parallelFor(d.count, grain: 1 << 15) { range in
                    addVectors(d.baseAddress! + range.lowerBound, e.baseAddress! + range.lowerBound,
                               d.baseAddress! + range.lowerBound, range.count)
                }
            }
        }
    }
}
