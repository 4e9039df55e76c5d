import HDF5
import NeuralNet

/// One network a `TrainingRun` trains, by name: its architecture, how it starts and what its
/// finished model file carries. A run usually has one (`kd train`, `kd distill`); CTKD has two,
/// the student and the scratch teacher, trained side by side on the same batches. Each gets its
/// own optimizer and schedule state from the run's recipe. The first trainee's outputs are read
/// by loss terms under their own names (`output`, `group1`), another's under its name
/// (`scratch/output`); its model is `RUN/model.h5`, another's `RUN/<name>/model.h5`.
/// Cost: a description only; the run builds the network.
public struct Trainee {
    public var name: String
    /// Must already take the store's images.
    public var architecture: Architecture
    /// Sets the starting weights (an ensemble starts from its students and the teacher's head);
    /// nil: the architecture's initialization from the recipe's seed.
    public var initialize: ((Model) throws -> Void)?
    /// Train the head only, with the trunk frozen in inference mode (its BatchNorm statistics
    /// untouched) — an ensemble's default fine-tuning.
    public var frozenTrunk = false
    /// Attributes the finished model file carries beyond the run's own.
    public var describeModel: ((H5File) throws -> Void)?

    public init(name: String, architecture: Architecture) {
        self.name = name
        self.architecture = architecture
    }

    /// Where the terms read output `name` of this trainee: the bare name for the first trainee,
    /// `<trainee>/<name>` for another.
    public static func key(_ name: String, trainee: String?) -> String {
        trainee.map { "\($0)/\(name)" } ?? name
    }

    /// The inverse of `key`: whose output a key names (nil: the first trainee's) and which.
    static func owner(of key: String) -> (trainee: String?, name: String) {
        guard let slash = key.firstIndex(of: "/") else { return (nil, key) }
        return (String(key[..<slash]), String(key[key.index(after: slash)...]))
    }
}
