/// One way to damage a file, for the seeded mutation tests of every reader (the dataset
/// decoders and kd's own HDF5 files): what a partial copy, a bad disk or a hostile user leaves.
/// Cost: one copy of the bytes.
public enum ByteMutation: CaseIterable, Sendable {
    /// Cut short at a random length, as an interrupted transfer leaves a file.
    case truncate
    /// One to four bytes XORed with a random non-zero value.
    case flipBytes
    /// A byte of the first `header` bytes (where formats keep their sizes, counts and
    /// addresses) set to an extreme value.
    case header
    /// A run of up to 63 bytes zeroed, as a lost disk block reads back.
    case zeroRun
    /// Up to 699 random bytes added at the end.
    case append

    public func apply(_ bytes: [UInt8], header: Int, rng: inout SplitMix64) -> [UInt8] {
        var out = bytes
        switch self {
        case .truncate:
            return Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count + 1))))
        case .flipBytes:
            for _ in 0...Int(rng.next() % 4) where !out.isEmpty {
                out[Int(rng.next() % UInt64(out.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
            }
        case .header:
            let i = Int(rng.next() % UInt64(max(1, min(header, out.count))))
            if i < out.count { out[i] = [0x00, 0xFF, 0x7F, 0x80, 0x01][Int(rng.next() % 5)] }
        case .zeroRun:
            guard !out.isEmpty else { return out }
            let start = Int(rng.next() % UInt64(out.count)), count = Int(rng.next() % 64)
            for i in start..<min(out.count, start + count) { out[i] = 0 }
        case .append:
            out += rng.bytes(Int(rng.next() % 700))
        }
        return out
    }

    /// A random mutation of `bytes`.
    public static func random(_ bytes: [UInt8], header: Int, rng: inout SplitMix64) -> (ByteMutation, [UInt8]) {
        let mutation = allCases[Int(rng.next() % UInt64(allCases.count))]
        return (mutation, mutation.apply(bytes, header: header, rng: &rng))
    }
}
