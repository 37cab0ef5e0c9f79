package store

import (
	"fmt"
)

// The body of a log segment or snapshot chunk is a dictionary of the class
// and field names it uses, then operations that refer to them by number:
//
//	dict:  nClasses { name nFields { fieldName } }
//	ops:   nOps { opPut class id expires nValues { field tag value }
//	            | opDelete class id
//	            | opClaim }
//	end:   bodyEnd
//
// Names travel with the data (encrypted, like everything else), so a record
// written under one version of a contract reads correctly under the next:
// fields are matched by name, and values of fields the contract no longer
// has are kept aside unchanged.

type opKind byte

const (
	opPut    opKind = 1 // store a whole record under its id
	opDelete opKind = 2 // remove the record with an id
	opClaim  opKind = 3 // a writer took over the store (see Store.claim)
)

const bodyEnd byte = 0xEE

// op is one change to the store, as a segment records it.
type op struct {
	kind  opKind
	t     *table // nil for a class the contract does not have
	class string // the class name when t is nil
	row   *row   // opPut
	id    uint64 // opDelete
	fresh bool   // opPut of a new record; only for change notifications
}

func (o *op) className() string {
	if o.t != nil {
		return o.t.name
	}
	return o.class
}

// dict assigns numbers to class and field names while a body is encoded.
type dict struct {
	classes []dictClass
	byName  map[string]int
}

type dictClass struct {
	name   string
	fields []string
	byName map[string]int
}

// class returns the number of a class, adding it with fields (the table's
// fields, so that a field's number is its position) if it is new.
func (d *dict) class(name string, fields []string) int {
	if i, ok := d.byName[name]; ok {
		return i
	}
	if d.byName == nil {
		d.byName = map[string]int{}
	}
	dc := dictClass{name: name, fields: append([]string(nil), fields...), byName: make(map[string]int, len(fields))}
	for i, f := range fields {
		dc.byName[f] = i
	}
	d.classes = append(d.classes, dc)
	d.byName[name] = len(d.classes) - 1
	return len(d.classes) - 1
}

func (d *dict) field(ci int, name string) int {
	dc := &d.classes[ci]
	if i, ok := dc.byName[name]; ok {
		return i
	}
	dc.fields = append(dc.fields, name)
	dc.byName[name] = len(dc.fields) - 1
	return len(dc.fields) - 1
}

func (d *dict) encode(e *encoder) {
	e.uvarint(uint64(len(d.classes)))
	for _, c := range d.classes {
		e.str(c.name)
		e.uvarint(uint64(len(c.fields)))
		for _, f := range c.fields {
			e.str(f)
		}
	}
}

// bodyWriter encodes operations, collecting the dictionary as it goes.
type bodyWriter struct {
	dict dict
	ops  encoder
	n    int
}

func (w *bodyWriter) add(o *op) {
	var fields []string
	if o.t != nil {
		fields = o.t.fields
	}
	ci := w.dict.class(o.className(), fields)
	e := &w.ops
	w.n++
	e.byte(byte(o.kind))
	switch o.kind {
	case opPut:
		r := o.row
		e.uvarint(uint64(ci))
		e.uvarint(r.id)
		e.varint(r.expires)
		n := len(r.extra)
		for _, v := range r.vals {
			if v.k != kNone {
				n++
			}
		}
		e.uvarint(uint64(n))
		for pos, v := range r.vals {
			if v.k != kNone {
				e.uvarint(uint64(pos))
				v.encode(e)
			}
		}
		for _, x := range r.extra {
			e.uvarint(uint64(w.dict.field(ci, x.name)))
			x.v.encode(e)
		}
	case opDelete:
		e.uvarint(uint64(ci))
		e.uvarint(o.id)
	case opClaim:
	}
}

// finish appends the dictionary, the operations and the end marker to e.
func (w *bodyWriter) finish(e *encoder) {
	w.dict.encode(e)
	e.uvarint(uint64(w.n))
	e.raw(w.ops.buf)
	e.byte(bodyEnd)
}

// decodedClass is a dictionary entry resolved against the open contract.
type decodedClass struct {
	name   string
	t      *table
	fields []string
	pos    []int // table position of each dictionary field, -1 if none
}

// decodeBody reads the operations of a body. Classes the contract does not
// have come back with a nil table; values that fit no field come back in
// row.extra.
func (s *Store) decodeBody(d *decoder) ([]op, error) {
	classes := make([]decodedClass, d.count(2))
	for i := range classes {
		c := &classes[i]
		c.name = d.str()
		c.t = s.tables[c.name]
		c.fields = make([]string, d.count(1))
		c.pos = make([]int, len(c.fields))
		for j := range c.fields {
			c.fields[j] = d.str()
			c.pos[j] = -1
			if c.t != nil {
				if p, ok := c.t.pos[c.fields[j]]; ok {
					c.pos[j] = p
				}
			}
		}
	}
	classOf := func() *decodedClass {
		i := d.uvarint()
		if i >= uint64(len(classes)) {
			d.fail()
			return nil
		}
		return &classes[i]
	}
	ops := make([]op, 0, d.count(1))
	for n := cap(ops); n > 0 && d.err == nil; n-- {
		o := op{kind: opKind(d.byte())}
		switch o.kind {
		case opPut:
			c := classOf()
			if c == nil {
				break
			}
			o.t, o.class = c.t, c.name
			r := &row{id: d.uvarint(), expires: d.varint()}
			if c.t != nil {
				r.vals = make([]value, len(c.t.fields))
			}
			for nv := d.count(2); nv > 0 && d.err == nil; nv-- {
				fi := d.uvarint()
				raw := decodeRaw(d)
				if fi >= uint64(len(c.fields)) {
					d.fail()
					break
				}
				if p := c.pos[fi]; p >= 0 {
					if v, ok := raw.as(c.t.kinds[p]); ok {
						r.vals[p] = v
						continue
					}
				}
				r.extra = append(r.extra, rawField{name: c.fields[fi], v: raw})
			}
			o.row = r
		case opDelete:
			c := classOf()
			if c == nil {
				break
			}
			o.t, o.class = c.t, c.name
			o.id = d.uvarint()
		case opClaim:
		default:
			d.fail()
		}
		ops = append(ops, o)
	}
	if d.byte() != bodyEnd || !d.done() || d.err != nil {
		return nil, errMalformed
	}
	return ops, nil
}

// encodeSegment returns the plaintext of log segment seq.
func (s *Store) encodeSegment(seq uint64, ops []op) []byte {
	var w bodyWriter
	for i := range ops {
		w.add(&ops[i])
	}
	e := header(objSegment, seq)
	e.raw(s.writerID[:])
	e.varint(s.now().UnixNano())
	w.finish(e)
	return e.buf
}

// decodeSegment reads the operations of a segment body (after its header).
func (s *Store) decodeSegment(name string, body []byte) ([]op, error) {
	d := decoder{buf: body}
	d.fixed(16) // writer id
	d.varint()  // written at
	ops, err := s.decodeBody(&d)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, name, err)
	}
	return ops, nil
}
