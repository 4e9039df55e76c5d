/// Sums over contiguous Float runs in a fixed order (16 SIMD lanes, then the lanes, then the
/// tail), so they vectorize and give the same bits every time. Cost: one pass over `n` floats.
@inline(__always)
func sumOf(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD16<Float>(repeating: 0)
    var i = 0
    while i + 16 <= n {
        acc += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
        i += 16
    }
    var sum = acc.sum()
    while i < n { sum += p[i]; i += 1 }
    return sum
}

/// Σ (p[i] − center)², in the same fixed order as `sumOf`.
@inline(__always)
func squaredDeviationSum(_ p: UnsafePointer<Float>, _ n: Int, center: Float) -> Float {
    var acc = SIMD16<Float>(repeating: 0)
    let c = SIMD16<Float>(repeating: center)
    var i = 0
    while i + 16 <= n {
        let d = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self) - c
        acc += d * d
        i += 16
    }
    var sum = acc.sum()
    while i < n { let d = p[i] - center; sum += d * d; i += 1 }
    return sum
}

/// Σ a[i] · (b[i] − center), in the same fixed order as `sumOf`.
@inline(__always)
func centeredDotOf(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int, center: Float) -> Float {
    var acc = SIMD16<Float>(repeating: 0)
    let c = SIMD16<Float>(repeating: center)
    var i = 0
    while i + 16 <= n {
        let av = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Float>.self)
        let bv = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Float>.self)
        acc += av * (bv - c)
        i += 16
    }
    var sum = acc.sum()
    while i < n { sum += a[i] * (b[i] - center); i += 1 }
    return sum
}
