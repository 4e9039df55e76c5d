import Foundation

/// A line chart written as SVG text by hand (no plotting library): axes with round tick
/// values, one `<polyline class="series">` per series with a marker on every point and a
/// `<title>` naming it, and a legend on the right. Used by `kd report` for the students'
/// loss curves and the ensembles' accuracy. Cost: linear in the number of points.
struct LineChart {
    struct Series {
        var name: String
        var points: [(x: Double, y: Double)]
        /// An SVG colour, e.g. "#1f77b4".
        var color: String
        var dashed = false
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series]
    /// Labelled positions on the x axis; nil for round numbers over the data's range.
    var xTicks: [(Double, String)]?
    /// Start the y axis at zero (losses) rather than near the smallest value.
    var yFromZero = false
    /// Whole numbers only on the x axis (epochs).
    var integerX = false

    // Geometry in SVG user units.
    private let width = 760.0, height = 440.0
    private let left = 72.0, right = 190.0, top = 44.0, bottom = 56.0

    init(title: String, xLabel: String, yLabel: String, series: [Series],
         xTicks: [(Double, String)]? = nil, yFromZero: Bool = false, integerX: Bool = false) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.xTicks = xTicks
        self.yFromZero = yFromZero
        self.integerX = integerX
    }

    var svg: String {
        let points = series.flatMap(\.points)
        let xs = (xTicks?.map(\.0) ?? []) + points.map(\.x), ys = points.map(\.y)
        let xAxis = xTicks.map { ticks in
            (ticks.map(\.0).min() ?? 0, ticks.map(\.0).max() ?? 1, ticks)
        } ?? Self.roundTicks(xs.min() ?? 0, xs.max() ?? 1, fromZero: false, minimumStep: integerX ? 1 : 0)
        let yAxis = Self.roundTicks(yFromZero ? min(0, ys.min() ?? 0) : (ys.min() ?? 0), ys.max() ?? 1, fromZero: yFromZero)
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        func px(_ x: Double) -> Double {
            xAxis.1 == xAxis.0 ? left + plotWidth / 2 : left + (x - xAxis.0) / (xAxis.1 - xAxis.0) * plotWidth
        }
        func py(_ y: Double) -> Double {
            yAxis.1 == yAxis.0 ? top + plotHeight / 2 : top + plotHeight - (y - yAxis.0) / (yAxis.1 - yAxis.0) * plotHeight
        }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        var out = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(f(width))" height="\(f(height))" \
            viewBox="0 0 \(f(width)) \(f(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(f(width / 2))" y="24" text-anchor="middle" font-size="15">\(Self.escape(title))</text>

            """
        // Grid lines and tick labels.
        for (y, label) in yAxis.2 {
            out += "<line x1=\"\(f(left))\" y1=\"\(f(py(y)))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(py(y)))\" stroke=\"#e0e0e0\"/>\n"
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(py(y) + 4))\" text-anchor=\"end\">\(Self.escape(label))</text>\n"
        }
        for (x, label) in xAxis.2 {
            out += "<line x1=\"\(f(px(x)))\" y1=\"\(f(top + plotHeight))\" x2=\"\(f(px(x)))\" y2=\"\(f(top + plotHeight + 5))\" stroke=\"black\"/>\n"
            out += "<text x=\"\(f(px(x)))\" y=\"\(f(top + plotHeight + 19))\" text-anchor=\"middle\">\(Self.escape(label))</text>\n"
        }
        out += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" fill=\"none\" stroke=\"black\"/>\n"
        out += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(height - 14))\" text-anchor=\"middle\">\(Self.escape(xLabel))</text>\n"
        out += "<text transform=\"translate(18 \(f(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">\(Self.escape(yLabel))</text>\n"

        // The series, then the legend.
        for s in series {
            let dash = s.dashed ? " stroke-dasharray=\"6 4\"" : ""
            let coordinates = s.points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            out += "<polyline class=\"series\" points=\"\(coordinates)\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2\"\(dash)>"
                + "<title>\(Self.escape(s.name))</title></polyline>\n"
            for p in s.points {
                out += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"2.5\" fill=\"\(s.color)\"/>\n"
            }
        }
        let rowHeight = min(18.0, plotHeight / Double(max(series.count, 1)))
        for (i, s) in series.enumerated() {
            let y = top + 8 + Double(i) * rowHeight
            let x = left + plotWidth + 14
            let dash = s.dashed ? " stroke-dasharray=\"6 4\"" : ""
            out += "<line x1=\"\(f(x))\" y1=\"\(f(y))\" x2=\"\(f(x + 24))\" y2=\"\(f(y))\" stroke=\"\(s.color)\" stroke-width=\"2\"\(dash)/>\n"
            out += "<text x=\"\(f(x + 30))\" y=\"\(f(y + 4))\">\(Self.escape(s.name))</text>\n"
        }
        return out + "</svg>\n"
    }

    /// An axis over [low, high] widened to round numbers, with about five ticks at steps of
    /// 1, 2 or 5 times a power of ten (and at least `minimumStep`).
    static func roundTicks(_ low: Double, _ high: Double, fromZero: Bool,
                           minimumStep: Double = 0) -> (Double, Double, [(Double, String)]) {
        var (low, high) = (low, high)
        if high - low < 1e-12 { (low, high) = (low - max(abs(low) * 0.1, 0.5), high + max(abs(high) * 0.1, 0.5)) }
        if fromZero && low >= 0 { low = 0 }
        let rough = (high - low) / 5
        let magnitude = pow(10, floor(log10(rough)))
        let step = max(minimumStep, [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude)
        let first = floor(low / step) * step, last = ceil(high / step) * step
        let decimals = max(0, -Int(floor(log10(step))))
        let ticks = stride(from: first, through: last + step / 2, by: step).map {
            ($0, String(format: "%.\(decimals)f", $0))
        }
        return (first, last, ticks)
    }

    /// Text made safe for XML content and attribute values.
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// A colour of hue `hue` (degrees), saturation and lightness in [0, 1], as #rrggbb.
    static func color(hue: Double, saturation: Double, lightness: Double) -> String {
        let c = (1 - abs(2 * lightness - 1)) * saturation
        let h = hue.truncatingRemainder(dividingBy: 360) / 60
        let x = c * (1 - abs(h.truncatingRemainder(dividingBy: 2) - 1))
        let (r, g, b): (Double, Double, Double) = switch Int(h) {
        case 0: (c, x, 0)
        case 1: (x, c, 0)
        case 2: (0, c, x)
        case 3: (0, x, c)
        case 4: (x, 0, c)
        default: (c, 0, x)
        }
        let m = lightness - c / 2
        return String(format: "#%02x%02x%02x", Int(((r + m) * 255).rounded()), Int(((g + m) * 255).rounded()),
                      Int(((b + m) * 255).rounded()))
    }
}
