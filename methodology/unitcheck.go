package methodology

import (
	"encoding/json"
	"fmt"
	"strconv"

	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
)

// unitChecker walks a checked CEL AST and infers the dimensions of every
// numeric sub-expression from the parameters' declared units:
//
//   - a parameter has its declared unit; a numeric literal is a pure number
//     (and a literal zero fits any unit, so "0.0" is a valid project);
//   - a * b and a / b combine dimensions; a + b, a - b, a ? b : c,
//     math.least/greatest and comparisons need equal dimensions (a literal
//     may be compared with anything: "distance >= 0.5");
//   - anything else (params.x, evidence, function results) has no unit and
//     may not take part in arithmetic: declare a monitored parameter.
type unitChecker struct {
	units map[string]dims
	info  *celast.SourceInfo
	errs  []unitErr
}

type unitErr struct {
	id  int64
	msg string
}

// uval is what the checker knows about a sub-expression.
type uval struct {
	num  bool // a number with known dimensions
	lit  bool // a numeric literal
	zero bool // the literal 0
	d    dims
	name string // for messages
}

func (c *unitChecker) fail(e celast.Expr, format string, args ...any) uval {
	c.errs = append(c.errs, unitErr{e.ID(), fmt.Sprintf(format, args...)})
	return uval{}
}

func (c *unitChecker) infer(e celast.Expr) uval {
	switch e.Kind() {
	case celast.LiteralKind:
		switch v := e.AsLiteral().(type) {
		case types.Double:
			return uval{num: true, lit: true, zero: v == 0, d: dims{}, name: strconv.FormatFloat(float64(v), 'g', -1, 64)}
		case types.Int:
			return uval{num: true, lit: true, zero: v == 0, d: dims{}, name: strconv.FormatInt(int64(v), 10)}
		}
		return uval{}
	case celast.IdentKind:
		n := e.AsIdent()
		if d, ok := c.units[n]; ok {
			return uval{num: true, d: d, name: n}
		}
		return uval{name: n}
	case celast.SelectKind:
		c.infer(e.AsSelect().Operand())
		return uval{name: e.AsSelect().FieldName()}
	case celast.CallKind:
		return c.call(e)
	case celast.ComprehensionKind:
		return c.fail(e, "loops (all, exists, map, filter) are not allowed: an expression must cost the same for every event")
	}
	return uval{}
}

func (c *unitChecker) call(e celast.Expr) uval {
	call := e.AsCall()
	args := call.Args()
	vals := make([]uval, len(args))
	if call.IsMemberFunction() {
		c.infer(call.Target())
	}
	for i, a := range args {
		vals[i] = c.infer(a)
	}
	if len(c.errs) > 0 {
		return uval{}
	}
	needNum := func() bool {
		for i, v := range vals {
			if !v.num {
				c.fail(args[i], "%q has no declared unit; arithmetic is allowed only on declared parameters and literals (declare a monitored parameter instead of reading params directly)", v.name)
				return false
			}
		}
		return true
	}
	same := func(op string, a, b uval) uval {
		if a.zero {
			return b
		}
		if b.zero {
			return a
		}
		if !a.d.equal(b.d) {
			return c.fail(e, "cannot %s %s (%s) and %s (%s): units differ", op, a.name, a.d, b.name, b.d)
		}
		return uval{num: true, lit: a.lit && b.lit, d: a.d, name: a.name}
	}
	switch call.FunctionName() {
	case "_*_", "_/_":
		if !needNum() {
			return uval{}
		}
		sign := 1
		if call.FunctionName() == "_/_" {
			sign = -1
		}
		return uval{num: true, lit: vals[0].lit && vals[1].lit, d: vals[0].d.mul(vals[1].d, sign), name: vals[0].name + "×" + vals[1].name}
	case "_+_", "_-_":
		if !needNum() {
			return uval{}
		}
		op := "add"
		if call.FunctionName() == "_-_" {
			op = "subtract"
		}
		return same(op, vals[0], vals[1])
	case "-_":
		if !needNum() {
			return uval{}
		}
		return vals[0]
	case "_?_:_":
		a, b := vals[1], vals[2]
		if !a.num && !b.num {
			return uval{}
		}
		if !a.num || !b.num {
			vals = vals[1:]
			args = args[1:]
			needNum()
			return uval{}
		}
		return same("choose between", a, b)
	case "math.least", "math.greatest":
		if !needNum() || len(vals) == 0 {
			return uval{}
		}
		acc := vals[0]
		for _, v := range vals[1:] {
			acc = same("compare", acc, v)
		}
		return acc
	case "_<_", "_<=_", "_>_", "_>=_", "_==_", "_!=_":
		a, b := vals[0], vals[1]
		if a.num && b.num && !a.lit && !b.lit && !a.d.equal(b.d) {
			c.fail(e, "cannot compare %s (%s) with %s (%s): units differ", a.name, a.d, b.name, b.d)
		}
		return uval{}
	case "double":
		if len(vals) == 1 && vals[0].num {
			return vals[0]
		}
	}
	return uval{}
}

// toFloat converts a decoded JSON or YAML number to float64.
func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case uint:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}
