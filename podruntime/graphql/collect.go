package graphql

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/byoda-go/byoda/internal/contract"
)

// collected is one entry of a response object: the fields of a selection
// set with the same response key, merged, after fragments, @skip and
// @include.
type collected struct {
	key   string // the alias, or the name
	name  string
	field *ast.Field
	sel   ast.SelectionSet
}

// collect returns the fields a selection set selects on the object type
// typeName, in the order of the query, following fragments whose type
// condition is typeName. The schema has no interfaces or unions, so a
// fragment either applies to an object type or does not.
//
// An operation without variables collects the same fields every time: the
// result is kept with the schema, keyed by the selection set of the query
// document (which the handler's query cache hands out again for the same
// text), and shared by the requests for that query. Callers must not
// change it.
func (x *execution) collect(sel ast.SelectionSet, typeName string) []collected {
	if len(sel) == 0 {
		return nil
	}
	shared := len(x.op.Operation.VariableDefinitions) == 0
	key := collectKey{&sel[0], typeName}
	if shared {
		if out, ok := x.es.collected.get(key); ok {
			return out
		}
	}
	out := make([]collected, 0, len(sel))
	x.collectInto(&out, sel, typeName, nil)
	if shared {
		x.es.collected.put(key, out)
	}
	return out
}

// collectCache holds the fields collected from the selection sets of
// operations without variables.
type collectCache struct {
	mu sync.RWMutex
	m  map[collectKey][]collected
}

// collectKey is a selection set of a query document, by the address of its
// first selection, and the type it is collected for.
type collectKey struct {
	sel      *ast.Selection
	typeName string
}

// maxCollected bounds collectCache: the keys keep their query documents
// alive after the query cache has let them go, so it starts over when full.
const maxCollected = 1 << 14

func (c *collectCache) get(k collectKey) ([]collected, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out, ok := c.m[k]
	return out, ok
}

func (c *collectCache) put(k collectKey, out []collected) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCollected {
		c.m = make(map[collectKey][]collected)
	}
	c.m[k] = out
}

func (x *execution) collectInto(out *[]collected, sel ast.SelectionSet, typeName string, visited map[string]bool) map[string]bool {
	for _, s := range sel {
		switch s := s.(type) {
		case *ast.Field:
			if !x.include(s.Directives) {
				continue
			}
			key := s.Alias
			if key == "" {
				key = s.Name
			}
			merged := false
			for i := range *out {
				if c := &(*out)[i]; c.key == key {
					// Clip first, so that append copies rather than writes
					// into the query document's own slice.
					c.sel = append(slices.Clip(c.sel), s.SelectionSet...)
					merged = true
					break
				}
			}
			if !merged {
				*out = append(*out, collected{key: key, name: s.Name, field: s, sel: s.SelectionSet})
			}
		case *ast.InlineFragment:
			if !x.include(s.Directives) || (s.TypeCondition != "" && s.TypeCondition != typeName) {
				continue
			}
			visited = x.collectInto(out, s.SelectionSet, typeName, visited)
		case *ast.FragmentSpread:
			if !x.include(s.Directives) || visited[s.Name] {
				continue
			}
			if visited == nil {
				visited = map[string]bool{}
			}
			visited[s.Name] = true
			def := s.Definition
			if def == nil {
				def = x.op.Doc.Fragments.ForName(s.Name)
			}
			if def == nil || (def.TypeCondition != "" && def.TypeCondition != typeName) {
				continue
			}
			visited = x.collectInto(out, def.SelectionSet, typeName, visited)
		}
	}
	return visited
}

// include evaluates @skip and @include; validation has made sure their
// arguments are booleans.
func (x *execution) include(dirs ast.DirectiveList) bool {
	if len(dirs) == 0 {
		return true
	}
	cond := func(name string) (bool, bool) {
		d := dirs.ForName(name)
		if d == nil {
			return false, false
		}
		a := d.Arguments.ForName("if")
		if a == nil {
			return false, false
		}
		v, err := a.Value.Value(x.op.Variables)
		b, ok := v.(bool)
		return b, err == nil && ok
	}
	if skip, ok := cond("skip"); ok && skip {
		return false
	}
	if inc, ok := cond("include"); ok && !inc {
		return false
	}
	return true
}

// args returns the arguments of a field, with defaults applied and each
// value converted to what its type says: int64 for Int, float64 for Float,
// string for String, UUID (lower case) and DateTime, bool for Boolean,
// []any for lists and map[string]any for input objects. An argument that
// is left out is missing from the map; one given as null maps to nil.
func (x *execution) args(f *ast.Field) (map[string]any, *gqlerror.Error) {
	if f.Definition == nil || len(f.Definition.Arguments) == 0 {
		return nil, nil
	}
	out := make(map[string]any, len(f.Definition.Arguments))
	for _, def := range f.Definition.Arguments {
		var (
			v   any
			has bool
			err error
		)
		if a := f.Arguments.ForName(def.Name); a != nil {
			if a.Value.Kind == ast.Variable {
				v, has = x.op.Variables[a.Value.Raw]
			} else {
				v, err = a.Value.Value(x.op.Variables)
				has = true
			}
		}
		if !has && def.DefaultValue != nil {
			v, err = def.DefaultValue.Value(nil)
			has = true
		}
		if err != nil {
			return nil, x.errorf(CodeBadUserInput, "argument %s: %v", def.Name, err)
		}
		if !has {
			continue
		}
		cv, bad := x.coerce(v, def.Type)
		if bad != nil {
			return nil, x.argError(def.Name+bad.at, bad.msg)
		}
		out[def.Name] = cv
	}
	return out, nil
}

// argError is a BAD_USER_INPUT error about an argument; where is the
// argument, or a path into it such as "filter.city.eq".
func (x *execution) argError(where, msg string) *gqlerror.Error {
	e := x.errorf(CodeBadUserInput, "argument %s: %s", where, msg)
	e.Extensions["argument"] = where
	return e
}

// badValue says what is wrong with an argument value, and where inside it:
// at is empty for the value itself, or a path such as "[1].qty".
type badValue struct {
	at, msg string
}

// coerce converts an argument value to the Go value of type t.
func (x *execution) coerce(v any, t *ast.Type) (any, *badValue) {
	if v == nil {
		if t.NonNull {
			return nil, &badValue{msg: "want a value, got null"}
		}
		return nil, nil
	}
	if t.Elem != nil {
		list, ok := v.([]any)
		if !ok {
			list = []any{v} // a single value is a list of one
		}
		out := make([]any, len(list))
		for i, it := range list {
			cv, bad := x.coerce(it, t.Elem)
			if bad != nil {
				bad.at = fmt.Sprintf("[%d]%s", i, bad.at)
				return nil, bad
			}
			out[i] = cv
		}
		return out, nil
	}
	def := x.es.schema.Types[t.NamedType]
	if def == nil {
		return nil, &badValue{msg: "unknown type " + t.NamedType}
	}
	if def.Kind == ast.InputObject {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, &badValue{msg: "want an object of " + def.Name + got(v)}
		}
		out := make(map[string]any, len(obj))
		for k, fv := range obj {
			fd := def.Fields.ForName(k)
			if fd == nil {
				return nil, &badValue{at: "." + k, msg: "unknown field of " + def.Name}
			}
			cv, bad := x.coerce(fv, fd.Type)
			if bad != nil {
				bad.at = "." + k + bad.at
				return nil, bad
			}
			if cv != nil {
				out[k] = cv
			}
		}
		for _, fd := range def.Fields {
			if _, ok := out[fd.Name]; !ok && fd.Type.NonNull {
				return nil, &badValue{at: "." + fd.Name, msg: "want a value of " + fd.Type.String()}
			}
		}
		return out, nil
	}
	cv, msg := coerceScalar(v, t.NamedType)
	if msg != "" {
		return nil, &badValue{msg: msg}
	}
	return cv, nil
}

// coerceScalar converts a scalar argument. Numbers arrive as int64 or
// float64 from the query, as json.Number from variables.
func coerceScalar(v any, typeName string) (any, string) {
	switch typeName {
	case "Int":
		switch n := v.(type) {
		case int64:
			return n, ""
		case int:
			return int64(n), ""
		case float64:
			if n == math.Trunc(n) && math.Abs(n) <= 1<<53 {
				return int64(n), ""
			}
		case json.Number:
			if i, err := n.Int64(); err == nil {
				return i, ""
			}
		}
		return nil, "want an integer" + got(v)
	case "Float":
		if _, isString := v.(string); !isString {
			if f, ok := toFloat(v); ok && !math.IsInf(f, 0) {
				return f, ""
			}
		}
		return nil, "want a number" + got(v)
	case "Boolean":
		if b, ok := v.(bool); ok {
			return b, ""
		}
		return nil, "want true or false" + got(v)
	case scalarUUID:
		if s, ok := v.(string); ok && contract.IsUUID(s) {
			return strings.ToLower(s), ""
		}
		return nil, `want a UUID (such as "3f2504e0-4f89-41d3-9a0c-0305e82c3301")` + got(v)
	case scalarDateTime:
		if s, ok := v.(string); ok && isDateTime(s) {
			return s, ""
		}
		return nil, `want a date-time (RFC 3339, such as "2025-01-31T12:00:00Z")` + got(v)
	default: // String, and the values of enums
		if s, ok := v.(string); ok {
			return s, ""
		}
		return nil, "want a string" + got(v)
	}
}

// got describes a bad value briefly.
func got(v any) string {
	switch v := v.(type) {
	case string:
		if len(v) > 40 {
			return ", got a string"
		}
		return fmt.Sprintf(", got %q", v)
	case json.Number:
		return ", got " + string(v)
	case int64, float64, bool:
		return fmt.Sprintf(", got %v", v)
	case []any:
		return ", got a list"
	case map[string]any:
		return ", got an object"
	}
	return ""
}

func isDateTime(s string) bool {
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}

// selects reports whether fields holds the field name, under any alias.
func selects(fields []collected, name string) bool {
	return slices.ContainsFunc(fields, func(f collected) bool { return f.name == name })
}
