import Foundation
import HDF5

/// Renders a `FileInspection` for people (aligned text) or for scripts (one JSON object with
/// the same information, sizes in bytes, nothing abbreviated). Cost: string building only.
public enum InspectionReport {
    /// The text summary, ending with a newline.
    public static func text(_ inspection: FileInspection) -> String {
        var lines: [String] = []
        let kind = inspection.kind.map { "kd \($0)" } ?? "HDF5 file without kd_kind"
        lines.append("\(inspection.path): \(kind), \(bytes(inspection.fileBytes))")

        if !inspection.attributes.isEmpty {
            lines.append("")
            lines.append("attributes")
            let width = inspection.attributes.map(\.name.count).max() ?? 0
            for (name, value) in inspection.attributes {
                for (i, part) in text(value).enumerated() {
                    lines.append("  " + pad(i == 0 ? name : "", width, false) + "  " + part)
                }
            }
        }

        lines.append("")
        if inspection.datasets.isEmpty {
            lines.append("datasets: none")
        } else {
            lines.append("datasets")
            let header = ["path", "shape", "dtype", "chunk", "compression", "on disk", "raw"]
            let rows = inspection.datasets.map { d in
                [d.path, shape(d.shape), d.elementType.rawValue, d.chunkShape.map(shape) ?? "contiguous",
                 d.compression, bytes(d.storageBytes), d.rawBytes.map(bytes) ?? "-"]
            }
            let widths = header.indices.map { c in max(header[c].count, rows.map { $0[c].count }.max() ?? 0) }
            // Text columns flush left, sizes flush right.
            func line(_ cells: [String]) -> String {
                "  " + cells.indices.map { pad(cells[$0], widths[$0], $0 >= 5) }.joined(separator: "  ")
            }
            lines.append(line(header))
            for (d, row) in zip(inspection.datasets, rows) {
                lines.append(line(row))
                if !d.stats.isEmpty {
                    lines.append("    " + d.stats.sorted { $0.key < $1.key }.map { "\($0.key) \(number($0.value))" }.joined(separator: "  "))
                }
            }
        }

        for section in inspection.sections {
            lines.append("")
            lines.append(contentsOf: section.textLines())
        }
        return lines.map(trimTrailingSpaces).joined(separator: "\n") + "\n"
    }

    /// The JSON object, pretty-printed with sorted keys, ending with a newline.
    public static func json(_ inspection: FileInspection) throws -> String {
        var attributes: [String: Any] = [:]
        for (name, value) in inspection.attributes { attributes[name] = json(value) }
        var object: [String: Any] = [
            "path": inspection.path,
            "file_bytes": inspection.fileBytes,
            "kind": inspection.kind ?? NSNull(),
            "attributes": attributes,
            "datasets": inspection.datasets.map { d -> [String: Any] in
                var entry: [String: Any] = [
                    "path": d.path, "shape": d.shape, "dtype": d.elementType.rawValue,
                    "chunk": d.chunkShape ?? NSNull(), "compression": d.compression,
                    "shuffle": d.hasShuffle, "deflate": d.deflateLevel ?? NSNull(),
                    "fletcher32": d.hasChecksum,
                    "storage_bytes": d.storageBytes, "raw_bytes": d.rawBytes ?? NSNull(),
                ]
                if !d.stats.isEmpty { entry["stats"] = d.stats.mapValues(json) }
                return entry
            },
        ]
        for section in inspection.sections { object[section.key] = section.jsonValue() }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    // MARK: - Pieces

    /// An attribute value as text lines: lists wrap at about 100 columns, and long strings and
    /// lists are cut after a few lines with their full length said (JSON has them whole).
    static func text(_ value: H5AttributeValue) -> [String] {
        let maxLines = 6, maxWidth = 100
        func list(_ items: [String]) -> [String] {
            var lines: [String] = []
            var current = ""
            for (i, item) in items.enumerated() {
                let piece = item + (i < items.count - 1 ? "," : "")
                if !current.isEmpty, current.count + 1 + piece.count > maxWidth {
                    lines.append(current)
                    current = ""
                    if lines.count == maxLines { return lines + ["… \(items.count) in all"] }
                }
                current += (current.isEmpty ? "" : " ") + piece
            }
            return items.isEmpty ? ["(empty)"] : lines + [current]
        }
        switch value {
        case .string(let s):
            let oneLine = s.replacingOccurrences(of: "\n", with: " ")
            let limit = maxLines * maxWidth
            return [oneLine.count > limit ? String(oneLine.prefix(limit)) + "… (\(s.count) characters)" : oneLine]
        case .strings(let s): return list(s)
        case .int(let v): return [String(v)]
        case .ints(let v): return list(v.map(String.init))
        case .double(let v): return [number(v)]
        case .doubles(let v): return list(v.map(number))
        case .unsupported(let typeClass): return ["(\(typeClass) value, not shown)"]
        }
    }

    static func json(_ value: H5AttributeValue) -> Any {
        switch value {
        case .string(let s): s
        case .strings(let s): s
        case .int(let v): v
        case .ints(let v): v
        case .double(let v): json(v)
        case .doubles(let v): v.map(json)
        case .unsupported(let typeClass): ["unsupported": typeClass]
        }
    }

    /// JSON has no NaN or infinity; those become the strings "nan", "inf", "-inf".
    static func json(_ v: Double) -> Any {
        v.isFinite ? v : (v.isNaN ? "nan" : v > 0 ? "inf" : "-inf")
    }

    /// Shortest form that reads back as the same Double ("0.1", "1e-08").
    static func number(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : "\(v)"
    }

    /// "60000×1×32×32"
    static func shape(_ dims: [Int]) -> String {
        dims.isEmpty ? "scalar" : dims.map(String.init).joined(separator: "×")
    }

    /// "812 B", "3.1 KiB", "9.8 MiB", "1.2 GiB"
    static func bytes(_ n: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(n), unit = 0
        while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
    }

    /// `s` padded with spaces to `width` characters, on the left when `right` aligned.
    static func pad(_ s: String, _ width: Int, _ right: Bool) -> String {
        let fill = String(repeating: " ", count: max(0, width - s.count))
        return right ? fill + s : s + fill
    }

    static func trimTrailingSpaces(_ s: String) -> String {
        var t = Substring(s)
        while t.last == " " { t = t.dropLast() }
        return String(t)
    }
}
