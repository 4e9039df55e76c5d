// Loops over contiguous Float runs, written with 16-lane SIMD vectors so that they vectorize
// without branches (a branch on the sign of activations mispredicts half the time). Sums run
// in a fixed order (16 lanes, then the lanes, then the tail), so they give the same bits every
// time. Cost: one pass over `n` floats each.

private typealias Vector = SIMD16<Float>

@inline(__always)
private func load(_ p: UnsafePointer<Float>) -> Vector {
    UnsafeRawPointer(p).loadUnaligned(as: Vector.self)
}

@inline(__always)
private func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vector.self)
}

/// Σ p[i].
@inline(__always)
func sumOf(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = Vector(repeating: 0)
    var i = 0
    while i + 16 <= n { acc += load(p + i); i += 16 }
    var sum = acc.sum()
    while i < n { sum += p[i]; i += 1 }
    return sum
}

/// (Σ (p[i] − pivot), Σ (p[i] − pivot)²) in one pass: a run's mean and spread, measured from a
/// pivot near its mean so that the squares do not swamp the spread.
@inline(__always)
func shiftedSums(_ p: UnsafePointer<Float>, _ n: Int, pivot: Float) -> (Float, Float) {
    var sum = Vector(repeating: 0), squares = Vector(repeating: 0)
    let c = Vector(repeating: pivot)
    var i = 0
    while i + 16 <= n {
        let d = load(p + i) - c
        sum += d
        squares += d * d
        i += 16
    }
    var sums = (sum.sum(), squares.sum())
    while i < n { let d = p[i] - pivot; sums.0 += d; sums.1 += d * d; i += 1 }
    return sums
}

/// The rectifier that follows a batch norm, seen from the norm's input x: the norm's output
/// scale · x + shift is rectified, so a gradient passes only where that is positive (as
/// `rectifyGradient` passes it where the rectified output is). Lets `BatchNorm2d` take its
/// ReLU's backward into its own passes instead of a pass and a tensor of its own.
struct RectifierGate {
    var scale: Float, shift: Float
}

/// dy where the gate (if any) lets it through, else 0.
@inline(__always)
private func gated(_ dy: Vector, _ x: Vector, _ gate: RectifierGate?) -> Vector {
    guard let gate else { return dy }
    return dy.replacing(with: 0, where: x * Vector(repeating: gate.scale) + Vector(repeating: gate.shift) .<= 0)
}

@inline(__always)
private func gated(_ dy: Float, _ x: Float, _ gate: RectifierGate?) -> Float {
    guard let gate else { return dy }
    return x * gate.scale + gate.shift > 0 ? dy : 0
}

/// (Σ g[i], Σ g[i] · (x[i] − center)) with g = dy gated: BatchNorm's backward sums, in one pass.
@inline(__always)
func gradientSums(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, center: Float,
                  gate: RectifierGate?) -> (Float, Float) {
    var sum = Vector(repeating: 0), dot = Vector(repeating: 0)
    let c = Vector(repeating: center)
    var i = 0
    while i + 16 <= n {
        let v = load(x + i), g = gated(load(dy + i), v, gate)
        sum += g
        dot += g * (v - c)
        i += 16
    }
    var sums = (sum.sum(), dot.sum())
    while i < n {
        let g = gated(dy[i], x[i], gate)
        sums.0 += g; sums.1 += g * (x[i] - center); i += 1
    }
    return sums
}

/// y[i] = scale · x[i] + shift, rectified (as `rectify`) when `rectify` is set.
@inline(__always)
func scaleShift(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, scale: Float, shift: Float,
                rectify: Bool = false) {
    let s = Vector(repeating: scale), t = Vector(repeating: shift), zero = Vector(repeating: 0)
    var i = 0
    while i + 16 <= n {
        let v = load(x + i) * s + t
        store(rectify ? v.replacing(with: zero, where: v .< zero) : v, y + i)
        i += 16
    }
    while i < n { let v = x[i] * scale + shift; y[i] = rectify && v < 0 ? 0 : v; i += 1 }
}

/// y[i] = max(x[i], 0), NaN staying NaN (as in PyTorch). A compare-and-select, since the
/// standard library's `pointwiseMax` goes lane by lane.
@inline(__always)
func rectify(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    let zero = Vector(repeating: 0)
    var i = 0
    while i + 16 <= n {
        let v = load(x + i)
        store(v.replacing(with: zero, where: v .< zero), y + i)
        i += 16
    }
    while i < n { y[i] = x[i] < 0 ? 0 : x[i]; i += 1 }
}

/// y[i] = max(x[i] + r[i], 0): two paths meeting and the rectifier after them, in one pass.
@inline(__always)
func addRectify(_ x: UnsafePointer<Float>, _ r: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    let zero = Vector(repeating: 0)
    var i = 0
    while i + 16 <= n {
        let v = load(x + i) + load(r + i)
        store(v.replacing(with: zero, where: v .< zero), y + i)
        i += 16
    }
    while i < n { let v = x[i] + r[i]; y[i] = v < 0 ? 0 : v; i += 1 }
}

/// dx[i] = dy[i] where y[i] > 0, else 0.
@inline(__always)
func rectifyGradient(_ dy: UnsafePointer<Float>, output y: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ n: Int) {
    let zero = Vector(repeating: 0)
    var i = 0
    while i + 16 <= n { store(load(dy + i).replacing(with: zero, where: load(y + i) .<= zero), dx + i); i += 16 }
    while i < n { dx[i] = y[i] > 0 ? dy[i] : 0; i += 1 }
}

/// dx[i] = scale · (g[i] − meanDy − (x[i] − mean) · k), g = dy gated: BatchNorm's input gradient
/// (in inference meanDy = k = 0: the statistics are constants).
@inline(__always)
func batchNormGradient(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ n: Int,
                       scale: Float, meanDy: Float, mean: Float, k: Float, gate: RectifierGate?) {
    let s = Vector(repeating: scale), md = Vector(repeating: meanDy), m = Vector(repeating: mean), kv = Vector(repeating: k)
    var i = 0
    while i + 16 <= n {
        let v = load(x + i)
        store(s * (gated(load(dy + i), v, gate) - md - (v - m) * kv), dx + i)
        i += 16
    }
    while i < n { dx[i] = scale * (gated(dy[i], x[i], gate) - meanDy - (x[i] - mean) * k); i += 1 }
}

/// c[i] = a[i] + b[i].
@inline(__always)
func addVectors(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i + 16 <= n { store(load(a + i) + load(b + i), c + i); i += 16 }
    while i < n { c[i] = a[i] + b[i]; i += 1 }
}

/// y[i] = x[i] + shift.
@inline(__always)
func addScalar(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, _ shift: Float) {
    let t = Vector(repeating: shift)
    var i = 0
    while i + 16 <= n { store(load(x + i) + t, y + i); i += 16 }
    while i < n { y[i] = x[i] + shift; i += 1 }
}

/// y[i] = x[2·i] for i < n: a stride-2 row of im2col, eight at a time from two overlapping
/// eight-float loads (the even lanes of one, the odd lanes of the next) that read nothing past
/// x[2(n − 1)]; the last eight overlap the ones before when n is not a multiple of eight.
@inline(__always)
func gatherEven(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    guard n >= 8 else {
        for i in 0..<n { y[i] = x[2 &* i] }
        return
    }
    var i = 0
    while true {
        let a = UnsafeRawPointer(x + 2 &* i).loadUnaligned(as: SIMD8<Float>.self)
        let b = UnsafeRawPointer(x + (2 &* i &+ 7)).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: SIMD8(lowHalf: a.evenHalf, highHalf: b.oddHalf), as: SIMD8<Float>.self)
        if i == n - 8 { return }
        i = min(i + 8, n - 8)
    }
}

/// y[2·i] += x[i] for i < n: a stride-2 row of col2im, four at a time through eight-float
/// loads and stores of y that write its odd entries back unchanged — so only while they stay
/// before y[2(n − 1)], which another image's plane may follow; the last four or fewer go one by one.
@inline(__always)
func addToEven(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i + 5 <= n {
        var v = UnsafeRawPointer(y + 2 &* i).loadUnaligned(as: SIMD8<Float>.self)
        v.evenHalf += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD4<Float>.self)
        UnsafeMutableRawPointer(y + 2 &* i).storeBytes(of: v, as: SIMD8<Float>.self)
        i += 4
    }
    while i < n { y[2 &* i] += x[i]; i += 1 }
}
