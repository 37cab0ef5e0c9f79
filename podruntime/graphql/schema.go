package graphql

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/byoda-go/byoda/internal/contract"
)

// Names of the types every generated schema has besides the classes'.
const (
	typeQuery        = "Query"
	typeMutation     = "Mutation"
	typeSubscription = "Subscription"
	typePageInfo     = "PageInfo"
	typeChangeAction = "ChangeAction"
	scalarDateTime   = "DateTime"
	scalarUUID       = "UUID"
	filterString     = "StringFilter"
	filterInt        = "IntFilter"
	filterFloat      = "FloatFilter"
	filterBoolean    = "BooleanFilter"
	filterUUID       = "UUIDFilter"
	filterDateTime   = "DateTimeFilter"
)

// Names of the arguments the generated fields have besides the classes'
// fields.
const (
	argFilter         = "filter"
	argFirst          = "first"
	argAfter          = "after"
	argDepth          = "depth"
	argRelations      = "relations"
	argRemoteMemberID = "remote_member_id"
	argQueryID        = "query_id"
	argValue          = "value"
)

// rootKind is what a root field of the schema does.
type rootKind int

const (
	rootObject     rootKind = iota + 1 // query C: the record of an object class
	rootConnection                     // query C_connection: a page of an array class
	rootMutate                         // mutation mutate_C: merge into an object
	rootAppend                         // mutation append_C
	rootUpdate                         // mutation update_C
	rootDelete                         // mutation delete_from_C
	rootUpdates                        // subscription C_updates
	rootCounter                        // subscription C_counter
)

// root is a root field of the schema and the class it serves.
type root struct {
	kind  rootKind
	class *contract.Class
	// node is the GraphQL type of the class's items: the record type, or
	// the scalar of an array of scalars.
	node string
	// scalar is the item type of an array of scalars; empty otherwise.
	scalar contract.Type
	// format is the item format of an array of scalars.
	format contract.Format
}

// model is a contract's schema as SDL, and what the executor needs to
// serve each root field.
type model struct {
	sdl   string
	roots map[string]*root
}

// SchemaFor builds the GraphQL schema of a contract. It is a pure function
// of the contract: the same contract gives the same schema. The names are
// those of the reference implementation's GraphQL. For each top-level class
// C:
//
//   - an object: type C with the class's fields; query C: C; mutation
//     mutate_C(<fields>): Int, which merges the arguments given into the
//     record (null clears a field) and returns 1.
//   - an array of objects of the "$defs" class T: type T; query
//     C_connection(filter: T_filter, first: Int = 20, after: String,
//     depth: Int = 0, relations: [String!], remote_member_id: UUID,
//     query_id: UUID): C_page, with C_page { edges: [C_edge] page_info:
//     PageInfo total_count: Int } and C_edge { cursor: String! origin: UUID
//     node: T }; mutations append_C(<T's fields>, remote_member_id: UUID,
//     depth: Int = 0): Int, update_C(filter: T_filter!, <T's fields>): Int
//     and delete_from_C(filter: T_filter!): Int, returning how many items
//     they added, changed or removed; subscriptions C_updates(filter:
//     T_filter): C_update_event { action: ChangeAction! node: T origin:
//     UUID } and C_counter(filter: T_filter): Int.
//   - an array of scalars S: the same, with node: S, filter inputs of S's
//     kind, append_C(value: S!, ...) and no update_C.
//
// T_filter has one optional field per scalar field of T, of StringFilter
// (eq ne vin nin regex glob), IntFilter and FloatFilter (eq ne gt lt egt
// elt), BooleanFilter (eq ne), UUIDFilter (eq ne) or DateTimeFilter (at nat
// after before atafter atbefore); the operators of one filter are AND-ed.
// Strings of format date-time are DateTime (RFC 3339), of format uuid
// UUID, other strings String; integers are Int, numbers Float, arrays
// lists, and objects in arrays have T_input types as arguments.
//
// Output fields are nullable, since a field the caller may not read is
// null. Arguments for required fields of an append are non-null. Names
// that would collide (a class named PageInfo, an object class named
// x_connection beside an array class x) are errors.
func SchemaFor(c *contract.Contract) (*ast.Schema, error) {
	m, err := buildModel(c)
	if err != nil {
		return nil, err
	}
	return m.load(c)
}

func (m *model) load(c *contract.Contract) (*ast.Schema, error) {
	s, err := gqlparser.LoadSchema(&ast.Source{Name: fmt.Sprintf("service-%d.graphql", c.ServiceID), Input: m.sdl})
	if err != nil {
		return nil, fmt.Errorf("schema of service %d: %w", c.ServiceID, err)
	}
	return s, nil
}

// gen writes the SDL of a contract.
type gen struct {
	c     *contract.Contract
	sb    strings.Builder
	types map[string]string // type name -> what defined it
	roots map[string]*root
	errs  []string

	query, mutation, subscription strings.Builder
	// defs are the "$defs" classes the schema needs an output type for,
	// inputs those it needs a T_input for, filters those it needs a
	// T_filter for, in the order found.
	defs, inputs, filters []*contract.Class
	seen                  map[string]bool
}

func buildModel(c *contract.Contract) (*model, error) {
	if c == nil {
		return nil, errors.New("build schema: no contract")
	}
	g := &gen{c: c, types: map[string]string{}, roots: map[string]*root{}, seen: map[string]bool{}}
	for _, name := range []string{typeQuery, typeMutation, typeSubscription, typePageInfo, typeChangeAction,
		scalarDateTime, scalarUUID, filterString, filterInt, filterFloat, filterBoolean, filterUUID, filterDateTime} {
		g.types[name] = "the schema"
	}
	for _, cls := range c.Classes {
		g.class(cls)
	}
	if g.query.Len() == 0 && len(g.errs) == 0 {
		g.errs = append(g.errs, "no class with fields to serve")
	}
	if len(g.errs) > 0 {
		return nil, fmt.Errorf("schema of service %d: %s", c.ServiceID, strings.Join(g.errs, "; "))
	}
	g.write()
	return &model{sdl: g.sb.String(), roots: g.roots}, nil
}

// defineType claims a type name for what, and reports a collision.
func (g *gen) defineType(name, what string) {
	if prev, ok := g.types[name]; ok {
		g.errs = append(g.errs, fmt.Sprintf("type %s of %s collides with the type of %s; rename one of them", name, what, prev))
		return
	}
	g.types[name] = what
}

// defineRoot claims a root field name.
func (g *gen) defineRoot(name string, r *root) {
	if prev, ok := g.roots[name]; ok {
		g.errs = append(g.errs, fmt.Sprintf("field %s of class %q collides with the field of class %q; rename one of them", name, r.class.Name, prev.class.Name))
		return
	}
	g.roots[name] = r
}

func (g *gen) class(cls *contract.Class) {
	switch cls.Kind {
	case contract.KindObject:
		if len(cls.Fields) == 0 {
			return // nothing to serve: GraphQL has no empty object types
		}
		g.defineType(cls.Name, fmt.Sprintf("class %q", cls.Name))
		g.needFieldTypes(cls)
		r := &root{kind: rootObject, class: cls, node: cls.Name}
		g.defineRoot(cls.Name, r)
		writeDescription(&g.query, "  ", cls.Description)
		fmt.Fprintf(&g.query, "  %s: %s\n", cls.Name, cls.Name)

		g.defineRoot("mutate_"+cls.Name, &root{kind: rootMutate, class: cls, node: cls.Name})
		writeDescription(&g.mutation, "  ", fmt.Sprintf("Sets the fields of %s that are given; null clears a field. Returns 1.", cls.Name))
		fmt.Fprintf(&g.mutation, "  mutate_%s(%s): Int\n", cls.Name, g.fieldArgs(cls, false))
	case contract.KindArrayOfObjects:
		item := cls.Items.Class
		if item == nil || len(item.Fields) == 0 {
			return
		}
		g.needDef(item)
		if !g.seen["filter:"+item.Name] {
			g.seen["filter:"+item.Name] = true
			if len(filterable(item)) > 0 {
				g.defineType(item.Name+"_filter", fmt.Sprintf("the filter of %q", item.Name))
				g.filters = append(g.filters, item)
			}
		}
		filterType := ""
		if len(filterable(item)) > 0 {
			filterType = item.Name + "_filter"
		}
		g.array(cls, &root{class: cls, node: item.Name}, filterType)
	case contract.KindArrayOfScalars:
		r := &root{class: cls, node: scalarType(cls.Items.Type, cls.Items.Format), scalar: cls.Items.Type, format: cls.Items.Format}
		g.array(cls, r, scalarFilter(cls.Items.Type, cls.Items.Format))
	}
}

// array writes the fields and types of an array class; proto holds what
// all its root fields share.
func (g *gen) array(cls *contract.Class, proto *root, filterType string) {
	name := cls.Name
	with := func(k rootKind) *root {
		r := *proto
		r.kind = k
		return &r
	}
	for _, suffix := range []string{"_page", "_edge", "_update_event"} {
		g.defineType(name+suffix, fmt.Sprintf("class %q", name))
	}
	filterArg, filterArgRequired := "", ""
	if filterType != "" {
		filterArg = fmt.Sprintf("%s: %s, ", argFilter, filterType)
		filterArgRequired = fmt.Sprintf("%s: %s!", argFilter, filterType)
	}

	g.defineRoot(name+"_connection", with(rootConnection))
	writeDescription(&g.query, "  ", joinText(cls.Description,
		fmt.Sprintf("A page of the items of %s that match the filter, oldest first: first (at most %d) items after the cursor after. With depth > 0 the pods linked with one of relations (all links without relations) answer too, each edge with its origin; remote_member_id asks that member's pod instead.", name, MaxFirst)))
	fmt.Fprintf(&g.query, "  %s_connection(%s%s: Int = %d, %s: String, %s: Int = 0, %s: [String!], %s: UUID, %s: UUID): %s_page\n",
		name, filterArg, argFirst, DefaultFirst, argAfter, argDepth, argRelations, argRemoteMemberID, argQueryID, name)

	g.defineRoot("append_"+name, with(rootAppend))
	writeDescription(&g.mutation, "  ", fmt.Sprintf("Appends an item to %s. Returns 1.", name))
	item := cls.RecordClass()
	var appendArgs string
	if item != nil {
		appendArgs = g.fieldArgs(item, true)
	} else {
		appendArgs = fmt.Sprintf("%s: %s!", argValue, proto.node)
	}
	// A field of the item named like a recursion argument takes its place.
	for _, extra := range [][2]string{{argRemoteMemberID, "UUID"}, {argDepth, "Int = 0"}} {
		if item == nil || item.Field(extra[0]) == nil {
			appendArgs += ", " + extra[0] + ": " + extra[1]
		}
	}
	fmt.Fprintf(&g.mutation, "  append_%s(%s): Int\n", name, appendArgs)

	if filterType != "" {
		if item != nil {
			if item.Field(argFilter) != nil {
				g.errs = append(g.errs, fmt.Sprintf("field %q of %q collides with the argument filter of update_%s; rename the field", argFilter, item.Name, name))
			}
			g.defineRoot("update_"+name, with(rootUpdate))
			writeDescription(&g.mutation, "  ", fmt.Sprintf("Sets the fields that are given in every item of %s that matches the filter; null clears a field. Returns how many items changed.", name))
			fmt.Fprintf(&g.mutation, "  update_%s(%s, %s): Int\n", name, filterArgRequired, g.fieldArgs(item, false))
		}
		g.defineRoot("delete_from_"+name, with(rootDelete))
		writeDescription(&g.mutation, "  ", fmt.Sprintf("Removes every item of %s that matches the filter. Returns how many items were removed.", name))
		fmt.Fprintf(&g.mutation, "  delete_from_%s(%s): Int\n", name, filterArgRequired)
	}

	args := ""
	if filterType != "" {
		args = fmt.Sprintf("(%s: %s)", argFilter, filterType)
	}
	g.defineRoot(name+"_updates", with(rootUpdates))
	writeDescription(&g.subscription, "  ", fmt.Sprintf("Every append, update and delete of an item of %s that matches the filter, from now on.", name))
	fmt.Fprintf(&g.subscription, "  %s_updates%s: %s_update_event\n", name, args, name)
	g.defineRoot(name+"_counter", with(rootCounter))
	writeDescription(&g.subscription, "  ", fmt.Sprintf("The number of items of %s that match the filter: now, and again whenever it changes.", name))
	fmt.Fprintf(&g.subscription, "  %s_counter%s: Int\n", name, args)
}

// fieldArgs returns the arguments that set the fields of cls, non-null for
// required fields when required is set.
func (g *gen) fieldArgs(cls *contract.Class, required bool) string {
	var parts []string
	for _, f := range cls.Fields {
		t := g.inputType(f)
		if required && f.Required {
			t += "!"
		}
		parts = append(parts, f.Name+": "+t)
	}
	return strings.Join(parts, ", ")
}

// needDef records that the "$defs" class d needs an output type, and so do
// the classes its arrays hold.
func (g *gen) needDef(d *contract.Class) {
	if g.seen["def:"+d.Name] {
		return
	}
	g.seen["def:"+d.Name] = true
	g.defineType(d.Name, fmt.Sprintf("class %q", d.Name))
	g.defs = append(g.defs, d)
	g.needFieldTypes(d)
}

// needFieldTypes records the types that the array fields of cls hold.
func (g *gen) needFieldTypes(cls *contract.Class) {
	for _, f := range cls.Fields {
		if f.Items != nil && f.Items.Class != nil {
			g.needDef(f.Items.Class)
			g.needInput(f.Items.Class)
		}
	}
}

// needInput records that d needs an input type, as its records are
// arguments of a mutation.
func (g *gen) needInput(d *contract.Class) {
	if g.seen["input:"+d.Name] {
		return
	}
	g.seen["input:"+d.Name] = true
	g.defineType(d.Name+"_input", fmt.Sprintf("the input of %q", d.Name))
	g.inputs = append(g.inputs, d)
	for _, f := range d.Fields {
		if f.Items != nil && f.Items.Class != nil {
			g.needInput(f.Items.Class)
		}
	}
}

func (g *gen) write() {
	w := &g.sb
	fmt.Fprintf(w, "# The GraphQL schema of service %d (%s), contract version %d.\n\n", g.c.ServiceID, g.c.Name, g.c.Version)
	w.WriteString(`"A date and time, RFC 3339, such as 2025-01-31T12:00:00Z."
scalar DateTime @specifiedBy(url: "https://scalars.graphql.org/andimarek/date-time")

"A UUID in its 36-character text form, such as 3f2504e0-4f89-41d3-9a0c-0305e82c3301."
scalar UUID @specifiedBy(url: "https://www.rfc-editor.org/rfc/rfc9562")

"What happened to an item."
enum ChangeAction {
  append
  update
  delete
}

"Where a page ends: the cursor to ask for the next page after, and whether there is one."
type PageInfo {
  end_cursor: String
  has_next_page: Boolean!
}

"Conditions on a string field, AND-ed. regex is RE2 syntax and matches anywhere in the value; glob matches the whole value: * is any run of characters, ? one character, [abc] one of a set and [!abc] one not in it, and \\ takes the next character as it is."
input StringFilter {
  eq: String
  ne: String
  vin: [String!]
  nin: [String!]
  regex: String
  glob: String
}

"Conditions on an integer field, AND-ed: egt is at least, elt at most."
input IntFilter {
  eq: Int
  ne: Int
  gt: Int
  lt: Int
  egt: Int
  elt: Int
}

"Conditions on a number field, AND-ed: egt is at least, elt at most."
input FloatFilter {
  eq: Float
  ne: Float
  gt: Float
  lt: Float
  egt: Float
  elt: Float
}

"Conditions on a boolean field."
input BooleanFilter {
  eq: Boolean
  ne: Boolean
}

"Conditions on a UUID field."
input UUIDFilter {
  eq: UUID
  ne: UUID
}

"Conditions on a date-time field, AND-ed: at, not at, after, before, at or after, at or before."
input DateTimeFilter {
  at: DateTime
  nat: DateTime
  after: DateTime
  before: DateTime
  atafter: DateTime
  atbefore: DateTime
}
`)
	writeRoot(w, typeQuery, &g.query)
	writeRoot(w, typeMutation, &g.mutation)
	writeRoot(w, typeSubscription, &g.subscription)

	for _, cls := range g.c.Classes {
		switch {
		case cls.Kind == contract.KindObject && len(cls.Fields) > 0:
			g.objectType(cls.Name, cls)
		case cls.Kind == contract.KindArrayOfObjects && cls.Items.Class != nil && len(cls.Items.Class.Fields) > 0,
			cls.Kind == contract.KindArrayOfScalars:
			g.arrayTypes(cls)
		}
	}
	for _, d := range g.defs {
		g.objectType(d.Name, d)
	}
	for _, d := range g.filters {
		g.filterType(d)
	}
	for _, d := range g.inputs {
		g.inputObject(d)
	}
}

func writeRoot(w *strings.Builder, name string, fields *strings.Builder) {
	if fields.Len() == 0 {
		return
	}
	fmt.Fprintf(w, "\ntype %s {\n%s}\n", name, fields.String())
}

func (g *gen) objectType(name string, cls *contract.Class) {
	w := &g.sb
	w.WriteString("\n")
	writeDescription(w, "", cls.Description)
	fmt.Fprintf(w, "type %s {\n", name)
	for _, f := range cls.Fields {
		writeDescription(w, "  ", f.Description)
		fmt.Fprintf(w, "  %s: %s\n", f.Name, outputType(f))
	}
	w.WriteString("}\n")
}

func (g *gen) arrayTypes(cls *contract.Class) {
	node := ""
	if item := cls.RecordClass(); item != nil {
		node = item.Name
	} else {
		node = scalarType(cls.Items.Type, cls.Items.Format)
	}
	fmt.Fprintf(&g.sb, `
"A page of the items of %[1]s."
type %[1]s_page {
  edges: [%[1]s_edge]
  page_info: PageInfo
  "How many items match the filter."
  total_count: Int
}

"An item of %[1]s and its cursor."
type %[1]s_edge {
  cursor: String!
  "The member whose pod holds the item."
  origin: UUID
  node: %[2]s
}

"A change to an item of %[1]s."
type %[1]s_update_event {
  action: ChangeAction!
  "The item appended, as updated, or deleted."
  node: %[2]s
  "The item's cursor, as the edges of %[1]s_connection have it: a follower can resume after it."
  cursor: String
  "The member whose pod holds the item."
  origin: UUID
}
`, cls.Name, node)
}

func (g *gen) filterType(d *contract.Class) {
	w := &g.sb
	fmt.Fprintf(w, "\n\"Conditions on the fields of %s, AND-ed.\"\ninput %s_filter {\n", d.Name, d.Name)
	for _, f := range filterable(d) {
		fmt.Fprintf(w, "  %s: %s\n", f.Name, scalarFilter(f.Type, f.Format))
	}
	w.WriteString("}\n")
}

func (g *gen) inputObject(d *contract.Class) {
	w := &g.sb
	fmt.Fprintf(w, "\n\"An item of %s, to store.\"\ninput %s_input {\n", d.Name, d.Name)
	for _, f := range d.Fields {
		t := g.inputType(f)
		if f.Required {
			t += "!"
		}
		fmt.Fprintf(w, "  %s: %s\n", f.Name, t)
	}
	w.WriteString("}\n")
}

// filterable returns the fields of cls that a filter can compare: scalars.
func filterable(cls *contract.Class) []*contract.Field {
	var out []*contract.Field
	for _, f := range cls.Fields {
		if f.Type != contract.TypeArray {
			out = append(out, f)
		}
	}
	return out
}

// scalarType is the GraphQL scalar of a contract scalar type.
func scalarType(t contract.Type, format contract.Format) string {
	switch t {
	case contract.TypeInteger:
		return "Int"
	case contract.TypeNumber:
		return "Float"
	case contract.TypeBoolean:
		return "Boolean"
	}
	switch format {
	case contract.FormatDateTime:
		return scalarDateTime
	case contract.FormatUUID:
		return scalarUUID
	}
	return "String"
}

// scalarFilter is the filter input of a contract scalar type.
func scalarFilter(t contract.Type, format contract.Format) string {
	switch scalarType(t, format) {
	case "Int":
		return filterInt
	case "Float":
		return filterFloat
	case "Boolean":
		return filterBoolean
	case scalarDateTime:
		return filterDateTime
	case scalarUUID:
		return filterUUID
	}
	return filterString
}

func outputType(f *contract.Field) string {
	if f.Type != contract.TypeArray {
		return scalarType(f.Type, f.Format)
	}
	if f.Items.Class != nil {
		return "[" + f.Items.Class.Name + "]"
	}
	return "[" + scalarType(f.Items.Type, f.Items.Format) + "]"
}

func (g *gen) inputType(f *contract.Field) string {
	if f.Type != contract.TypeArray {
		return scalarType(f.Type, f.Format)
	}
	if f.Items.Class != nil {
		return "[" + f.Items.Class.Name + "_input!]"
	}
	return "[" + scalarType(f.Items.Type, f.Items.Format) + "!]"
}

func joinText(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			if !strings.HasSuffix(p, ".") {
				p += "."
			}
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

// writeDescription writes text as a GraphQL string description.
func writeDescription(w *strings.Builder, indent, text string) {
	text = strings.TrimSpace(text)
	if text == "" {
		return
	}
	w.WriteString(indent)
	w.WriteByte('"')
	for _, r := range text {
		switch r {
		case '"':
			w.WriteString(`\"`)
		case '\\':
			w.WriteString(`\\`)
		case '\n':
			w.WriteString(`\n`)
		case '\r':
			w.WriteString(`\r`)
		case '\t':
			w.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(w, `\u%04x`, r)
			} else {
				w.WriteRune(r)
			}
		}
	}
	w.WriteString("\"\n")
}
