package methodology

import (
	"fmt"
	"sort"
	"strings"
)

// Unit is a parsed unit: a scale that converts a value in this unit to the
// engine's base units, and the dimensions with their exponents.
//
// Base units: mg of CO2e (dimension "CO2e"), g of goods ("mass"), km
// ("distance"), kWh ("energy"); every count atom (order, trip, item,
// waybill, person-km, ...) is a dimension of its own with scale 1.
// Expressions are evaluated on values already converted to base units, so
// a CO2e result is always in mg and kg+g mistakes cannot happen; unit
// checking is purely dimensional.
type Unit struct {
	Scale float64
	Dims  map[string]int
}

type atom struct {
	dim   string
	scale float64
}

// atoms is the closed list of unit atoms. An unknown atom is a load error,
// which keeps typos ("odrer") from silently becoming a new dimension.
var atoms = map[string]atom{
	"mgCO2e": {"CO2e", 1}, "gCO2e": {"CO2e", 1e3}, "kgCO2e": {"CO2e", 1e6}, "tCO2e": {"CO2e", 1e9},
	// CO2-only factors count as CO2e: omitting the other gases under-counts,
	// which is the conservative side for an avoided-emission baseline.
	"mgCO2": {"CO2e", 1}, "gCO2": {"CO2e", 1e3}, "kgCO2": {"CO2e", 1e6}, "tCO2": {"CO2e", 1e9},
	"mg": {"mass", 1e-3}, "g": {"mass", 1}, "kg": {"mass", 1e3}, "t": {"mass", 1e6},
	"m": {"distance", 1e-3}, "km": {"distance", 1},
	"Wh": {"energy", 1e-3}, "kWh": {"energy", 1}, "MWh": {"energy", 1e3},
	"%": {"", 0.01}, "1": {"", 1},
	// Count atoms: each is its own dimension, so a per-trip factor can
	// never be multiplied by a distance, nor a per-km factor by trips.
	"order": {"order", 1}, "trip": {"trip", 1}, "item": {"item", 1},
	"waybill": {"waybill", 1}, "parcel": {"parcel", 1}, "carton": {"carton", 1},
	"person": {"person", 1}, "person-km": {"person-km", 1}, "product": {"product", 1},
	"garment": {"garment", 1}, "phone": {"phone", 1}, "book": {"book", 1},
}

// ParseUnit parses a unit string: a numerator and an optional denominator
// separated by "/", each a product of atoms joined by "*" or "·"
// ("gCO2e/order", "kgCO2e/person-km", "kgCO2e/kg", "%", "1", "kWh").
func ParseUnit(s string) (Unit, error) {
	u := Unit{Scale: 1, Dims: map[string]int{}}
	s = strings.TrimSpace(s)
	if s == "" {
		return u, fmt.Errorf("empty unit")
	}
	num, den, hasDen := strings.Cut(s, "/")
	if hasDen && strings.Contains(den, "/") {
		return u, fmt.Errorf("unit %q: at most one '/'", s)
	}
	if err := u.addSide(s, num, 1); err != nil {
		return u, err
	}
	if hasDen {
		if err := u.addSide(s, den, -1); err != nil {
			return u, err
		}
	}
	return u, nil
}

func (u *Unit) addSide(whole, side string, sign int) error {
	side = strings.ReplaceAll(side, "·", "*")
	for _, name := range strings.Split(side, "*") {
		name = strings.TrimSpace(name)
		a, ok := atoms[name]
		if !ok {
			return fmt.Errorf("unit %q: unknown unit %q (known: %s)", whole, name, knownAtoms())
		}
		if sign > 0 {
			u.Scale *= a.scale
		} else {
			u.Scale /= a.scale
		}
		if a.dim != "" {
			u.Dims[a.dim] += sign
			if u.Dims[a.dim] == 0 {
				delete(u.Dims, a.dim)
			}
		}
	}
	return nil
}

func knownAtoms() string {
	names := make([]string, 0, len(atoms))
	for n := range atoms {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

// dims is a dimension vector used by the unit checker.
type dims map[string]int

func (d dims) mul(o dims, sign int) dims {
	out := dims{}
	for k, v := range d {
		out[k] = v
	}
	for k, v := range o {
		out[k] += sign * v
		if out[k] == 0 {
			delete(out, k)
		}
	}
	return out
}

func (d dims) equal(o dims) bool {
	if len(d) != len(o) {
		return false
	}
	for k, v := range d {
		if o[k] != v {
			return false
		}
	}
	return true
}

// String renders dimensions in base units, e.g. "mgCO2e/person-km".
func (d dims) String() string {
	base := map[string]string{"CO2e": "mgCO2e", "mass": "g", "distance": "km", "energy": "kWh"}
	var num, den []string
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := k
		if b, ok := base[k]; ok {
			name = b
		}
		v := d[k]
		if v < 0 {
			v = -v
		}
		if v != 1 {
			name = fmt.Sprintf("%s^%d", name, v)
		}
		if d[k] > 0 {
			num = append(num, name)
		} else {
			den = append(den, name)
		}
	}
	s := strings.Join(num, "*")
	if s == "" {
		s = "1"
	}
	if len(den) > 0 {
		s += "/" + strings.Join(den, "*")
	}
	return s
}

var co2eMass = dims{"CO2e": 1}
