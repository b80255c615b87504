package schema

// Assignable reports whether every value valid under from has a JSON type
// that to accepts. It is the plan validator's static check for passing one
// step's typed result into another step's parameter. It looks at types and
// structure, not at value constraints (lengths, bounds, enums, formats),
// which the hub checks on the real value at run time.
//
// An integer fits a number; a number does not fit an integer or a string.
// For objects, each property to requires must be required by from with an
// assignable type; each property from declares must fit the same property of
// to, or to must accept additional properties; and if from accepts
// additional properties, so must to. Array items must be assignable.
func Assignable(from, to *Schema) bool {
	if from == nil || to == nil || len(from.types) == 0 {
		return false
	}
	if to.anyValue {
		return true
	}
	if from.anyValue {
		return false
	}
	for _, t := range from.types {
		if !accepts(to, t) {
			return false
		}
	}
	if from.Is(TypeObject) && !objectAssignable(from, to) {
		return false
	}
	if from.Is(TypeArray) && !Assignable(from.items, to.items) {
		return false
	}
	return true
}

// accepts reports whether to takes every value of JSON type t.
func accepts(to *Schema, t string) bool {
	return to.Is(t) || t == TypeInteger && to.Is(TypeNumber)
}

func objectAssignable(from, to *Schema) bool {
	for _, r := range to.required {
		if !from.IsRequired(r) {
			return false
		}
	}
	for name, fp := range from.props {
		tp, ok := to.props[name]
		if !ok {
			if !to.additional {
				return false
			}
			continue
		}
		if !Assignable(fp, tp) {
			return false
		}
	}
	return !from.additional || to.additional
}
