package store

import (
	"slices"

	"github.com/byoda-go/byoda/podruntime/field"
)

// Row is one record of a query page as the store keeps it (Query.Rows),
// for callers that read a few fields of many records: reading a scalar
// field allocates nothing, where a map record costs a map and a boxed value
// for every field.
type Row struct {
	t    *table        // only its layout, which never changes: fields, pos
	proj []int         // the positions of the fields in vals; nil for all fields in order
	vals []field.Value // ValueNone where the record has no value
}

// Value is one field of a Row: the type the GraphQL executor writes too.
type Value = field.Value

// ValueKind says which field of a Value holds it.
type ValueKind = field.Kind

// The kinds of a Value.
const (
	ValueNone   = field.None
	ValueString = field.String
	ValueInt    = field.Int
	ValueFloat  = field.Float
	ValueBool   = field.Bool
	ValueOther  = field.Other
)

// Field returns the value of the named field; its Kind is ValueNone when
// the record has none.
func (r *Row) Field(name string) Value {
	pos, ok := r.t.pos[name]
	if !ok {
		return Value{}
	}
	i := pos
	if r.proj != nil {
		if i = slices.Index(r.proj, pos); i < 0 {
			return Value{}
		}
	}
	return r.vals[i]
}

// Values returns the row's values: of the fields the query asked for, in
// the order of Query.Fields; without Query.Fields, of all the class's
// fields in order. They belong to the page: read them, do not keep or
// change them.
func (r *Row) Values() []Value { return r.vals }

// rows fills b.rows for the records at b.slots, with the fields in proj
// (all when nil), reusing b's memory.
func (t *table) rows(b *pageBuf, proj []int) {
	n := len(t.cols)
	if proj != nil {
		n = len(proj)
	}
	b.vals = slices.Grow(b.vals[:0], len(b.slots)*n)[:len(b.slots)*n]
	b.rows = slices.Grow(b.rows[:0], len(b.slots))[:len(b.slots)]
	for i, slot := range b.slots {
		rv := b.vals[i*n : (i+1)*n : (i+1)*n]
		for j := range rv {
			pos := j
			if proj != nil {
				pos = proj[j]
			}
			rv[j] = t.cols[pos].field(slot, t.items[pos])
		}
		b.rows[i] = Row{t: t, proj: proj, vals: rv}
	}
}
