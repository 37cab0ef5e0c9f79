package graphql

import (
	"strconv"

	"github.com/99designs/gqlgen/graphql/introspection"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// introspect answers __schema and __type from gqlgen's introspection model
// of the schema, so GraphiQL and code generators can read it.
func (x *execution) introspect(f *collected) []*gqlerror.Error {
	if x.op.DisableIntrospection {
		return []*gqlerror.Error{x.errorf(CodeForbidden, "introspection is disabled on this server")}
	}
	if f.name == "__schema" {
		x.introSchema(introspection.WrapSchema(x.es.schema), f)
		return nil
	}
	args, err := x.args(f.field)
	if err != nil {
		return []*gqlerror.Error{err}
	}
	name, _ := args["name"].(string)
	def := x.es.schema.Types[name]
	if def == nil {
		x.null()
		return nil
	}
	x.introType(introspection.WrapTypeFromDef(x.es.schema, def), f)
	return nil
}

// object writes the fields of an introspection object; field writes the
// value of each field other than __typename.
func (x *execution) object(typeName string, f *collected, field func(c *collected)) {
	fields := x.collect(f.sel, typeName)
	x.out = append(x.out, '{')
	for i := range fields {
		c := &fields[i]
		x.key(i, c.key)
		x.push(c.key)
		if c.name == "__typename" {
			x.out = appendString(x.out, typeName)
		} else {
			field(c)
		}
		x.pop()
		x.grown()
	}
	x.out = append(x.out, '}')
}

// list writes n items with item.
func (x *execution) list(n int, item func(i int)) {
	x.out = append(x.out, '[')
	for i := 0; i < n; i++ {
		if i > 0 {
			x.out = append(x.out, ',')
		}
		x.pushIndex(i)
		item(i)
		x.pop()
		x.grown()
	}
	x.out = append(x.out, ']')
}

func (x *execution) optString(s *string) {
	if s == nil {
		x.null()
		return
	}
	x.out = appendString(x.out, *s)
}

// includeDeprecated reads the argument of fields, enumValues, args and
// inputFields.
func (x *execution) includeDeprecated(c *collected) bool {
	args, err := x.args(c.field)
	if err != nil {
		return false
	}
	b, _ := args["includeDeprecated"].(bool)
	return b
}

func (x *execution) introSchema(s *introspection.Schema, f *collected) {
	x.object("__Schema", f, func(c *collected) {
		switch c.name {
		case "description":
			x.optString(s.Description())
		case "types":
			types := s.Types()
			x.list(len(types), func(i int) { x.introType(&types[i], c) })
		case "queryType":
			x.introType(s.QueryType(), c)
		case "mutationType":
			x.introType(s.MutationType(), c)
		case "subscriptionType":
			x.introType(s.SubscriptionType(), c)
		case "directives":
			ds := s.Directives()
			x.list(len(ds), func(i int) { x.introDirective(&ds[i], c) })
		default:
			x.null()
		}
	})
}

func (x *execution) introType(t *introspection.Type, f *collected) {
	if t == nil {
		x.null()
		return
	}
	x.object("__Type", f, func(c *collected) {
		switch c.name {
		case "kind":
			x.out = appendString(x.out, t.Kind())
		case "name":
			x.optString(t.Name())
		case "description":
			x.optString(t.Description())
		case "specifiedByURL":
			x.optString(t.SpecifiedByURL())
		case "fields":
			if kind := t.Kind(); kind != "OBJECT" && kind != "INTERFACE" {
				x.null()
				return
			}
			fs := t.Fields(x.includeDeprecated(c))
			x.list(len(fs), func(i int) { x.introField(&fs[i], c) })
		case "interfaces":
			if kind := t.Kind(); kind != "OBJECT" && kind != "INTERFACE" {
				x.null()
				return
			}
			is := t.Interfaces()
			x.list(len(is), func(i int) { x.introType(&is[i], c) })
		case "possibleTypes":
			if kind := t.Kind(); kind != "INTERFACE" && kind != "UNION" {
				x.null()
				return
			}
			ps := t.PossibleTypes()
			x.list(len(ps), func(i int) { x.introType(&ps[i], c) })
		case "enumValues":
			if t.Kind() != "ENUM" {
				x.null()
				return
			}
			es := t.EnumValues(x.includeDeprecated(c))
			x.list(len(es), func(i int) { x.introEnumValue(&es[i], c) })
		case "inputFields":
			if t.Kind() != "INPUT_OBJECT" {
				x.null()
				return
			}
			ivs := t.InputFields()
			x.list(len(ivs), func(i int) { x.introInputValue(&ivs[i], c) })
		case "ofType":
			x.introType(t.OfType(), c)
		case "isOneOf":
			if t.Kind() != "INPUT_OBJECT" {
				x.null()
				return
			}
			x.out = strconv.AppendBool(x.out, t.IsOneOf())
		default:
			x.null()
		}
	})
}

func (x *execution) introField(fd *introspection.Field, f *collected) {
	x.object("__Field", f, func(c *collected) {
		switch c.name {
		case "name":
			x.out = appendString(x.out, fd.Name)
		case "description":
			x.optString(fd.Description())
		case "args":
			x.list(len(fd.Args), func(i int) { x.introInputValue(&fd.Args[i], c) })
		case "type":
			x.introType(fd.Type, c)
		case "isDeprecated":
			x.out = strconv.AppendBool(x.out, fd.IsDeprecated())
		case "deprecationReason":
			x.optString(fd.DeprecationReason())
		default:
			x.null()
		}
	})
}

func (x *execution) introInputValue(iv *introspection.InputValue, f *collected) {
	x.object("__InputValue", f, func(c *collected) {
		switch c.name {
		case "name":
			x.out = appendString(x.out, iv.Name)
		case "description":
			x.optString(iv.Description())
		case "type":
			x.introType(iv.Type, c)
		case "defaultValue":
			x.optString(iv.DefaultValue)
		case "isDeprecated":
			x.out = strconv.AppendBool(x.out, iv.IsDeprecated())
		case "deprecationReason":
			x.optString(iv.DeprecationReason())
		default:
			x.null()
		}
	})
}

func (x *execution) introEnumValue(ev *introspection.EnumValue, f *collected) {
	x.object("__EnumValue", f, func(c *collected) {
		switch c.name {
		case "name":
			x.out = appendString(x.out, ev.Name)
		case "description":
			x.optString(ev.Description())
		case "isDeprecated":
			x.out = strconv.AppendBool(x.out, ev.IsDeprecated())
		case "deprecationReason":
			x.optString(ev.DeprecationReason())
		default:
			x.null()
		}
	})
}

func (x *execution) introDirective(d *introspection.Directive, f *collected) {
	x.object("__Directive", f, func(c *collected) {
		switch c.name {
		case "name":
			x.out = appendString(x.out, d.Name)
		case "description":
			x.optString(d.Description())
		case "locations":
			x.list(len(d.Locations), func(i int) { x.out = appendString(x.out, d.Locations[i]) })
		case "args":
			x.list(len(d.Args), func(i int) { x.introInputValue(&d.Args[i], c) })
		case "isRepeatable":
			x.out = strconv.AppendBool(x.out, d.IsRepeatable)
		default:
			x.null()
		}
	})
}
