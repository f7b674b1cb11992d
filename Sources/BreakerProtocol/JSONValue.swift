/// A parsed JSON value. Integers that fit in `Int64` stay exact; other numbers are `Double`.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The JSON type's name, for error messages ("expected a string, got an object").
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .integer, .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// The member `key` of an object; nil for a missing member or a value that is not an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }
}

extension JSONValue {
    /// Why a JSON number that is not an `Int64` cannot be a whole-number field: too large (or small), or not
    /// whole. `range` is what the field accepts.
    static func wholeNumberProblem(_ d: Double, field: String, range: ClosedRange<Int64>) -> String {
        if d.isInfinite || d == d.rounded() {
            return "field '\(field)' is out of range: expected a whole number from \(range.lowerBound) to "
                + "\(range.upperBound)"
        }
        return "field '\(field)' must be a whole number, got \(d)"
    }
}
