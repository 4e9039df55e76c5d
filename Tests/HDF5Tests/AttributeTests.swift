import HDF5
import KDCore
import Testing

/// Attributes of every kind on files, groups and datasets: stored, read back, replaced.
@Suite struct AttributeTests {
    func setEveryKind(on holder: some H5AttributeHolder) throws {
        try holder.setAttribute("text", "héllo, wörld — 3×32×32")
        try holder.setAttribute("classes", ["airplane", "automobile", "bird", ""])
        try holder.setAttribute("count", -42)
        try holder.setAttribute("big", Int(Int64.max))
        try holder.setAttribute("rate", 0.125)
        try holder.setAttribute("dims", [60000, 1, 32, 32])
        try holder.setAttribute("means", [0.5, -1.25, 3e-8])
        try holder.setAttribute("none", [Int]())
    }

    func expectEveryKind(on holder: some H5AttributeHolder) throws {
        #expect(try holder.stringAttribute("text") == "héllo, wörld — 3×32×32")
        #expect(try holder.stringArrayAttribute("classes") == ["airplane", "automobile", "bird", ""])
        #expect(try holder.intAttribute("count") == -42)
        #expect(try holder.intAttribute("big") == Int(Int64.max))
        #expect(try holder.doubleAttribute("rate") == 0.125)
        #expect(try holder.intArrayAttribute("dims") == [60000, 1, 32, 32])
        #expect(try holder.doubleArrayAttribute("means") == [0.5, -1.25, 3e-8])
        #expect(try holder.intArrayAttribute("none") == [])
        #expect(try holder.attributeNames() == ["big", "classes", "count", "dims", "means", "none", "rate", "text"])
        #expect(try holder.stringAttribute("absent") == nil)
        #expect(try holder.intArrayAttribute("absent") == nil)
        #expect(try holder.attribute("classes") == .strings(["airplane", "automobile", "bird", ""]))
        #expect(try holder.attribute("count") == .int(-42))
    }

    @Test func everyKindRoundTripsOnFileGroupAndDataset() throws {
        let dir = try TempFolder()
        let path = dir.file("a.h5")
        do {
            let file = try H5File.create(path)
            try setEveryKind(on: file)
            try setEveryKind(on: try file.root.createGroup("train"))
            try setEveryKind(on: try file.root.writeDataset("train/labels", [UInt8](repeating: 1, count: 3), shape: [3]))
        }
        let file = try H5File.open(path)
        try expectEveryKind(on: file)
        try expectEveryKind(on: try file.root.openGroup("train"))
        try expectEveryKind(on: try file.root.openDataset("train/labels"))
    }

    @Test func settingAgainReplacesEvenWithAnotherKind() throws {
        let dir = try TempFolder()
        let path = dir.file("b.h5")
        do {
            let file = try H5File.create(path)
            try file.setAttribute("kd_kind", "model")
            try file.setAttribute("kd_kind", "dataset")
            try file.setAttribute("seed", [1, 2, 3])
            try file.setAttribute("seed", 7)
        }
        let file = try H5File.open(path, writable: true)
        #expect(try file.stringAttribute("kd_kind") == "dataset")
        #expect(try file.intAttribute("seed") == 7)
        try file.setAttribute("seed", 8)
        #expect(try file.intAttribute("seed") == 8)
        #expect(try file.attributeNames() == ["kd_kind", "seed"])
    }

    @Test func singleValuesAndOneElementArraysReadEitherWay() throws {
        let dir = try TempFolder()
        let file = try H5File.create(dir.file("c.h5"))
        try file.setAttribute("one", ["only"])
        try file.setAttribute("n", 3)
        try file.setAttribute("x", [2.5])
        #expect(try file.stringAttribute("one") == "only")
        #expect(try file.intArrayAttribute("n") == [3])
        #expect(try file.doubleAttribute("x") == 2.5)
        #expect(try file.doubleAttribute("n") == 3.0)  // integers widen to Double
    }

    @Test func readingTheWrongKindNamesBoth() throws {
        let dir = try TempFolder()
        let path = dir.file("d.h5")
        let file = try H5File.create(path)
        try file.setAttribute("classes", ["cat", "dog"])
        try file.setAttribute("rate", 0.5)
        let asInt = #expect(throws: StageError.self) { try file.intAttribute("classes") }
        #expect(asInt?.code == .dataErr)
        #expect(asInt?.message == "\(path): /: attribute classes holds 2 strings, expected an integer")
        let asString = #expect(throws: StageError.self) { try file.stringAttribute("rate") }
        #expect(asString?.message.contains("attribute rate holds a float, expected a string") == true)
    }
}
