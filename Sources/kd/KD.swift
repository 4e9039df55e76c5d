import ArgumentParser

struct KD: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kd",
        abstract: "Knowledge distillation as stages over HDF5 files.",
        version: "0.1.0",
        subcommands: [Decode.self, Inspect.self, Summary.self, Bench.self, Train.self, Eval.self, Extract.self, Distill.self,
                      Ensemble.self, Report.self, Convert.self, Export.self]
    )
}

/// The entry point: the arguments as the user gave them, except that a negative number after
/// an option is attached to it (`--lr -0.1` → `--lr=-0.1`). The argument parser would otherwise
/// read "-0.1" as short flags and answer "Missing value"; attached, the value reaches the
/// option's own range check, whose message names the option and what it allows.
@main
enum Main {
    static func main() {
        KD.main(attachingNegativeValues(Array(CommandLine.arguments.dropFirst())))
    }

    static func attachingNegativeValues(_ arguments: [String]) -> [String] {
        var out: [String] = []
        var i = 0
        while i < arguments.count {
            let token = arguments[i]
            if token.hasPrefix("--"), !token.contains("="), i + 1 < arguments.count,
               isNegativeNumber(arguments[i + 1]) {
                out.append(token + "=" + arguments[i + 1])
                i += 2
            } else {
                out.append(token)
                i += 1
            }
        }
        return out
    }

    /// "-1", "-0.5", "-1e-3", "-inf", "-nan": what Double or Int would parse after the sign.
    static func isNegativeNumber(_ token: String) -> Bool {
        guard token.hasPrefix("-"), token.count > 1 else { return false }
        return Double(token) != nil || ["-inf", "-infinity", "-nan"].contains(token.lowercased())
    }
}
