import Foundation

/// What a long stage shows while it runs: on a terminal, one live line redrawn at most ten
/// times a second (`\r`, no scrolling); elsewhere (logs, Make, CI) nothing until `finish`, which
/// prints one plain line per epoch or block. Lines go to standard error. Cost: a clock read per
/// update.
public final class ProgressLine {
    private let live = Console.isTerminal
    private var lastDraw = Date.distantPast
    private var drawn = false

    public init() {}

    /// Redraws the live line with `text` (terminal only; throttled).
    public func update(_ text: @autoclosure () -> String) {
        guard live else { return }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        Console.error("\r\u{1B}[K" + text())
        drawn = true
    }

    /// Replaces the live line (if any) with a permanent `line`.
    public func finish(_ line: String) {
        Console.error((drawn ? "\r\u{1B}[K" : "") + line + "\n")
        drawn = false
        lastDraw = .distantPast
    }

    /// Erases the live line, if one is drawn.
    public func clear() {
        if drawn { Console.error("\r\u{1B}[K") }
        drawn = false
        lastDraw = .distantPast
    }

    /// "1:05" or "1:02:03" for a number of seconds.
    public static func clock(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                         : String(format: "%d:%02d", s / 60, s % 60)
    }
}
