/// The raw dataset formats `kd decode` reads, and how each is recognised from file names.
public enum DatasetFormat: String, CaseIterable, Sendable {
    /// CIFAR-10 binary: data_batch_1..5.bin, test_batch.bin, batches.meta.txt.
    case cifar10
    /// CIFAR-100 binary: train.bin, test.bin, fine_label_names.txt, coarse_label_names.txt.
    case cifar100
    /// IDX (MNIST, Fashion-MNIST): train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-…,
    /// each plain or gzipped.
    case idx

    /// What a folder or archive of this format holds, for messages.
    public var expectedFiles: String {
        switch self {
        case .cifar10: return "CIFAR-10 binary files (data_batch_1.bin … data_batch_5.bin, test_batch.bin, batches.meta.txt)"
        case .cifar100: return "CIFAR-100 binary files (train.bin, test.bin, fine_label_names.txt, coarse_label_names.txt)"
        case .idx: return "IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, plain or .gz)"
        }
    }

    /// Whether `names` (files of one folder or archive) look like this format.
    public func matches(_ names: Set<String>) -> Bool {
        switch self {
        case .cifar10: return names.contains("data_batch_1.bin") || names.contains("test_batch.bin")
        case .cifar100: return names.contains("train.bin") || names.contains("test.bin")
        case .idx: return IDXDecoder.splits.contains { IDXDecoder.find($0.images, dimensions: 3, in: names) != nil }
        }
    }
}
