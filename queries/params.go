package queries

import (
	"fmt"
	"maps"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var (
	intRE      = regexp.MustCompile(`^-?[0-9]+$`)
	durationRE = regexp.MustCompile(`^([0-9]+[smhdw])+$`)
	durPartRE  = regexp.MustCompile(`([0-9]+)([smhdw])`)
	sizeRE     = regexp.MustCompile(`(?i)^([0-9]+(?:\.[0-9]+)?) ?([kmgtp]i?b|b)?$`)
)

// InferType is the type of a parameter declared without one, from its
// default: "90d" or "1h30m" is a duration, "500MB" or "1GiB" a size, "10" an
// int, anything else a string. A regex must be declared as one.
func InferType(def string) ParamType {
	switch {
	case intRE.MatchString(def):
		return TypeInt
	case durationRE.MatchString(def):
		return TypeDuration
	case sizeRE.MatchString(def) && sizeRE.FindStringSubmatch(def)[2] != "":
		return TypeSize
	default:
		return TypeString
	}
}

var durationUnits = map[string]int64{"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

// ParseDuration reads a duration as seconds: plain seconds ("3600"), or
// numbers with units s, m (minutes), h, d, w, in any combination ("90d",
// "1w2d", "1h30m"). Months and years are not accepted: they have no fixed
// length.
func ParseDuration(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return n, nil
	}
	if !durationRE.MatchString(s) {
		return 0, fmt.Errorf("duration %q: want a number of seconds or e.g. 30d, 12h, 2w, 1h30m (units s, m, h, d, w)", s)
	}
	var total int64
	for _, m := range durPartRE.FindAllStringSubmatch(s, -1) {
		n, err := strconv.ParseInt(m[1], 10, 64)
		unit := durationUnits[m[2]]
		if err != nil || n > (math.MaxInt64-total)/unit {
			return 0, fmt.Errorf("duration %q: too large", s)
		}
		total += n * unit
	}
	return total, nil
}

var sizeUnits = map[string]int64{
	"b":  1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "pb": 1e15,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "pib": 1 << 50,
}

// ParseSize reads a size as bytes: plain bytes ("1048576"), or a number with
// a unit, case-insensitive: B; decimal KB, MB, GB, TB, PB (powers of 1000);
// binary KiB, MiB, GiB, TiB, PiB (powers of 1024). A fraction is allowed
// ("1.5GB") and the result is rounded down to a whole byte.
func ParseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("size %q: want bytes or e.g. 500MB, 1.5GiB (units B, KB, MB, GB, TB, PB, KiB, MiB, GiB, TiB, PiB)", s)
	}
	unit := int64(1)
	if m[2] != "" {
		unit = sizeUnits[strings.ToLower(m[2])]
	}
	// Exact rational arithmetic: a float would turn 0.3GB into 299999999.
	r, ok := new(big.Rat).SetString(m[1])
	if !ok {
		return 0, fmt.Errorf("size %q: bad number", s)
	}
	r.Mul(r, new(big.Rat).SetInt64(unit))
	n := new(big.Int).Quo(r.Num(), r.Denom())
	if !n.IsInt64() {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return n.Int64(), nil
}

// convert checks value against typ and returns what is bound.
func convert(typ ParamType, value string) (string, error) {
	switch typ {
	case TypeInt:
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return "", fmt.Errorf("int %q: want a whole number", value)
		}
		return strconv.FormatInt(n, 10), nil
	case TypeDuration:
		n, err := ParseDuration(value)
		if err != nil {
			return "", err
		}
		return strconv.FormatInt(n, 10), nil
	case TypeSize:
		n, err := ParseSize(value)
		if err != nil {
			return "", err
		}
		return strconv.FormatInt(n, 10), nil
	case TypeRegex:
		if _, err := regexp.Compile(value); err != nil {
			return "", fmt.Errorf("regex %q: %w", value, err)
		}
		return value, nil
	case TypeString:
		return value, nil
	default:
		return "", fmt.Errorf("unknown type %q", typ)
	}
}

// Bind returns the parameters to run q with: values (from -p NAME=VALUE)
// checked against q's declarations, defaults filled in, durations converted
// to seconds and sizes to bytes. A value for "now" passes through (it pins
// the time) and must be unix seconds. Errors wrap ErrParam.
func (q Query) Bind(values map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(q.Params)+1)
	for _, name := range slices.Sorted(maps.Keys(values)) { // the first bad name, always the same one
		v := values[name]
		if name == NowParam {
			if !intRE.MatchString(v) {
				return nil, fmt.Errorf("%w: now=%q: want unix seconds", ErrParam, v)
			}
			out[name] = v
			continue
		}
		if !slices.ContainsFunc(q.Params, func(p Param) bool { return p.Name == name }) {
			return nil, fmt.Errorf("%w: query %q has no parameter %q (%s)", ErrParam, q.Name, name, q.paramList())
		}
	}
	for _, p := range q.Params {
		v, given := values[p.Name]
		if !given {
			if p.Required {
				return nil, fmt.Errorf("%w: query %q needs -p %s=VALUE (%s)", ErrParam, q.Name, p.Name, p.Doc)
			}
			v = p.Default
		}
		b, err := convert(p.Type, v)
		if err != nil {
			return nil, fmt.Errorf("%w: -p %s: %w", ErrParam, p.Name, err)
		}
		out[p.Name] = b
	}
	return out, nil
}

func (q Query) paramList() string {
	if len(q.Params) == 0 {
		return "it takes none"
	}
	names := make([]string, len(q.Params))
	for i, p := range q.Params {
		names[i] = p.Name
	}
	return "its parameters: " + strings.Join(names, ", ")
}
