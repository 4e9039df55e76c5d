import Foundation

/// Paths as a report writes them: relative to the report's folder, so the report still points
/// at its runs when the tree holding both is moved or copied elsewhere. Cost: string work.
struct ReportPaths {
    /// The report folder, absolute and standardized.
    let folder: String

    init(folder: String) {
        self.folder = Self.absolute(folder)
    }

    /// `path` relative to the report folder (`../../Runs/x/teacher/model.h5`).
    func relative(_ path: String) -> String {
        let from = folder.split(separator: "/"), to = Self.absolute(path).split(separator: "/")
        let common = zip(from, to).prefix { $0 == $1 }.count
        let parts = Array(repeating: "..", count: from.count - common) + to.dropFirst(common).map(String.init)
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }

    private static func absolute(_ path: String) -> String {
        let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return (full as NSString).standardizingPath
    }
}
