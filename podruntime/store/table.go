package store

import (
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/podruntime/field"
)

// bitset is a growable set of small integers.
type bitset []uint64

func (b *bitset) set(i int) {
	for i/64 >= len(*b) {
		*b = append(*b, 0)
	}
	(*b)[i/64] |= 1 << (i % 64)
}

func (b bitset) has(i int) bool {
	w := i / 64
	return w < len(b) && b[w]&(1<<(i%64)) != 0
}

func (b bitset) clear(i int) {
	if w := i / 64; w < len(b) {
		b[w] &^= 1 << (i % 64)
	}
}

// column holds one field's values for every slot of a table, in the one
// slice its kind needs: strings, integers or floats. A record takes a few
// words per field instead of a map entry and a boxed interface.
type column struct {
	k   kind
	set bitset
	str strs      // kString, kUUID, kDateTime, kJSON
	num []int64   // kInt, kBool, kDateTime
	flt []float64 // kFloat
}

func (c *column) usesStr() bool {
	return c.k == kString || c.k == kUUID || c.k == kDateTime || c.k == kJSON
}
func (c *column) usesNum() bool { return c.k == kInt || c.k == kBool || c.k == kDateTime }

func (c *column) appendSlot() {
	if c.usesStr() {
		c.str.appendSlot()
	}
	if c.usesNum() {
		c.num = append(c.num, 0)
	}
	if c.k == kFloat {
		c.flt = append(c.flt, 0)
	}
}

func (c *column) get(slot int) value {
	if !c.set.has(slot) {
		return value{}
	}
	v := value{k: c.k}
	if c.usesStr() {
		v.s = c.str.get(slot)
	}
	if c.usesNum() {
		v.i = c.num[slot]
	}
	if c.k == kFloat {
		v.f = c.flt[slot]
	}
	return v
}

// field returns the value at slot as the executor reads it; items are those
// of an array field, whose stored JSON it decodes.
func (c *column) field(slot int, items *contract.Items) field.Value {
	if !c.set.has(slot) {
		return field.Value{}
	}
	switch c.k {
	case kString, kUUID, kDateTime:
		return field.Value{Kind: field.String, Str: c.str.get(slot)}
	case kInt:
		return field.Value{Kind: field.Int, Int: c.num[slot]}
	case kFloat:
		return field.Value{Kind: field.Float, Float: c.flt[slot]}
	case kBool:
		return field.Value{Kind: field.Bool, Int: c.num[slot]}
	case kJSON:
		return field.Value{Kind: field.Other, Other: value{k: kJSON, s: c.str.get(slot)}.output(items)}
	}
	return field.Value{}
}

// put stores v, which has the column's kind or is absent, at slot.
func (c *column) put(slot int, v value) {
	if v.k == kNone {
		c.set.clear(slot)
		if c.usesStr() {
			c.str.drop(slot)
		}
		return
	}
	c.set.set(slot)
	if c.usesStr() {
		c.str.put(slot, v.s)
	}
	if c.usesNum() {
		c.num[slot] = v.i
	}
	if c.k == kFloat {
		c.flt[slot] = v.f
	}
}

// row is one record outside a table: in a write being planned, in an
// object being decoded, or copied out of a table.
type row struct {
	id      uint64
	expires int64   // Unix nanoseconds; 0 never expires
	vals    []value // by field position
	extra   []rawField
}

// rawField is a stored value of a field the contract does not have, or
// whose type it changed: kept aside, unchanged, so that a contract upgrade
// never loses data.
type rawField struct {
	name string
	v    rawValue
}

// table holds the records of one class in memory. Records sit in slots in
// the order they were appended, which is also the order of their ids; a
// deleted record leaves a dead slot until the table compacts. Indexes and
// counters map a value's canonical key to record ids and counts.
type table struct {
	name   string
	class  *contract.Class
	scalar bool // an array of scalars: one pseudo-field "" holds the item
	fields []string
	kinds  []kind
	items  []*contract.Items // of array fields, for output
	pos    map[string]int

	cols    []column
	ids     []uint64
	exp     []int64 // per slot; nil unless records expire
	dead    bitset
	nDead   int
	nextID  uint64
	ttl     time.Duration
	minExp  int64 // earliest expiry among live slots, math.MaxInt64 if none
	extra   map[uint64][]rawField
	indexes []map[string][]uint64 // by field position; nil when not indexed
	counter []map[string]int64    // by field position; nil without counter
}

func newTable(c *contract.Class, defaultTTL time.Duration) *table {
	t := &table{
		name:   c.Name,
		class:  c,
		pos:    map[string]int{},
		nextID: 1,
		minExp: math.MaxInt64,
		extra:  map[uint64][]rawField{},
	}
	if rc := c.RecordClass(); rc != nil {
		for _, f := range rc.Fields {
			t.pos[f.Name] = len(t.fields)
			t.fields = append(t.fields, f.Name)
			t.kinds = append(t.kinds, kindOf(f.Type, f.Format))
			t.items = append(t.items, f.Items)
			var idx map[string][]uint64
			var cnt map[string]int64
			scalar := f.Type != contract.TypeArray
			if (f.Index || f.PrimaryKey) && scalar {
				idx = map[string][]uint64{}
			}
			if f.Counter && scalar {
				cnt = map[string]int64{}
			}
			t.indexes = append(t.indexes, idx)
			t.counter = append(t.counter, cnt)
		}
	} else {
		t.scalar = true
		t.pos[""] = 0
		t.fields = []string{""}
		t.kinds = []kind{kindOf(c.Items.Type, c.Items.Format)}
		t.items = []*contract.Items{nil}
		t.indexes = []map[string][]uint64{nil}
		t.counter = []map[string]int64{nil}
	}
	t.cols = make([]column, len(t.fields))
	for i := range t.cols {
		t.cols[i].k = t.kinds[i]
	}
	if c.CacheOnly {
		t.ttl = c.CacheTTL
		if t.ttl == 0 {
			t.ttl = defaultTTL
		}
		t.exp = []int64{}
	}
	return t
}

func (t *table) live() int { return len(t.ids) - t.nDead }

// search returns the slot of id, or where it would go, and whether a slot
// (live or dead) holds it.
func (t *table) search(id uint64) (int, bool) {
	if n := len(t.ids); n > 0 && t.ids[n-1] < id {
		return n, false
	}
	i := sort.Search(len(t.ids), func(i int) bool { return t.ids[i] >= id })
	return i, i < len(t.ids) && t.ids[i] == id
}

// slotOf returns the live slot of id.
func (t *table) slotOf(id uint64) (int, bool) {
	i, ok := t.search(id)
	if !ok || t.dead.has(i) {
		return 0, false
	}
	return i, true
}

func (t *table) isLive(slot int, now int64) bool {
	return !t.dead.has(slot) && (t.exp == nil || t.exp[slot] == 0 || t.exp[slot] > now)
}

// rowAt copies the record at slot out of the table.
func (t *table) rowAt(slot int) *row {
	r := &row{id: t.ids[slot], vals: make([]value, len(t.cols))}
	if t.exp != nil {
		r.expires = t.exp[slot]
	}
	for i := range t.cols {
		r.vals[i] = t.cols[i].get(slot)
	}
	if ex := t.extra[r.id]; ex != nil {
		r.extra = slices.Clone(ex)
	}
	return r
}

// record returns the record at slot for a caller: a map of the fields in
// proj (all fields when proj is nil), or the item of an array of scalars.
func (t *table) record(slot int, proj []int) any {
	if t.scalar {
		return t.cols[0].get(slot).output(nil)
	}
	m := make(map[string]any, len(t.cols))
	add := func(pos int) {
		if v := t.cols[pos].get(slot); v.k != kNone {
			m[t.fields[pos]] = v.output(t.items[pos])
		}
	}
	if proj == nil {
		for pos := range t.cols {
			add(pos)
		}
	} else {
		for _, pos := range proj {
			add(pos)
		}
	}
	return m
}

// rowRecord is record for a row that is not (yet) in the table.
func (t *table) rowRecord(r *row) any {
	if t.scalar {
		return r.vals[0].output(nil)
	}
	m := make(map[string]any, len(r.vals))
	for pos, v := range r.vals {
		if v.k != kNone {
			m[t.fields[pos]] = v.output(t.items[pos])
		}
	}
	return m
}

// put stores r, replacing the record with its id or adding it in id order.
// A record that has expired by now is not stored (and replaces nothing but
// removes its predecessor), so that replaying a log later gives the same
// table as applying it live.
func (t *table) put(r *row, now int64) {
	if r.id >= t.nextID {
		t.nextID = r.id + 1
	}
	if t.exp != nil && r.expires != 0 && r.expires <= now {
		t.remove(r.id)
		return
	}
	slot, found := t.search(r.id)
	switch {
	case found && !t.dead.has(slot):
		t.unindex(slot)
	case found:
		t.dead.clear(slot)
		t.nDead--
	case slot == len(t.ids):
		t.ids = append(t.ids, r.id)
		if t.exp != nil {
			t.exp = append(t.exp, 0)
		}
		for i := range t.cols {
			t.cols[i].appendSlot()
		}
	default:
		t.insertSlot(slot, r.id)
	}
	for i := range t.cols {
		var v value
		if i < len(r.vals) {
			v = r.vals[i]
		}
		t.cols[i].put(slot, v)
	}
	if t.exp != nil {
		t.exp[slot] = r.expires
		if r.expires != 0 && r.expires < t.minExp {
			t.minExp = r.expires
		}
	}
	if len(r.extra) > 0 {
		t.extra[r.id] = r.extra
	} else {
		delete(t.extra, r.id)
	}
	t.index(slot)
}

// insertSlot makes room for id at slot in the middle of the table. Ids are
// handed out in increasing order, so this only happens when an old record
// is revived by replay; it is allowed to be slow.
func (t *table) insertSlot(slot int, id uint64) {
	t.ids = slices.Insert(t.ids, slot, id)
	if t.exp != nil {
		t.exp = slices.Insert(t.exp, slot, 0)
	}
	t.dead = shiftBits(t.dead, slot, len(t.ids))
	for i := range t.cols {
		c := &t.cols[i]
		if c.usesStr() {
			c.str.insert(slot)
		}
		if c.usesNum() {
			c.num = slices.Insert(c.num, slot, 0)
		}
		if c.k == kFloat {
			c.flt = slices.Insert(c.flt, slot, 0)
		}
		c.set = shiftBits(c.set, slot, len(t.ids))
	}
}

// shiftBits returns b with a clear bit inserted at position at.
func shiftBits(b bitset, at, n int) bitset {
	var out bitset
	for i := range n {
		switch {
		case i < at && b.has(i):
			out.set(i)
		case i > at && b.has(i-1):
			out.set(i)
		}
	}
	return out
}

// remove deletes the record with id, if the table holds it.
func (t *table) remove(id uint64) bool {
	slot, ok := t.slotOf(id)
	if !ok {
		return false
	}
	t.unindex(slot)
	t.dead.set(slot)
	t.nDead++
	for i := range t.cols {
		t.cols[i].put(slot, value{})
	}
	if t.exp != nil {
		t.exp[slot] = 0
	}
	delete(t.extra, id)
	if t.nDead > 64 && t.nDead*2 > len(t.ids) {
		t.compactSlots()
	}
	return true
}

// compactSlots drops dead slots. Indexes hold ids, not slots, so they stay
// valid.
func (t *table) compactSlots() {
	n := t.live()
	ids := make([]uint64, 0, n)
	var exp []int64
	if t.exp != nil {
		exp = make([]int64, 0, n)
	}
	cols := make([]column, len(t.cols))
	for i := range cols {
		c := &cols[i]
		c.k = t.cols[i].k
		if c.usesStr() {
			c.str = withCap(n)
		}
		if c.usesNum() {
			c.num = make([]int64, 0, n)
		}
		if c.k == kFloat {
			c.flt = make([]float64, 0, n)
		}
	}
	for slot, id := range t.ids {
		if t.dead.has(slot) {
			continue
		}
		to := len(ids)
		ids = append(ids, id)
		if exp != nil {
			exp = append(exp, t.exp[slot])
		}
		for i := range cols {
			cols[i].appendSlot()
			cols[i].put(to, t.cols[i].get(slot))
		}
	}
	t.ids, t.exp, t.cols = ids, exp, cols
	t.dead, t.nDead = nil, 0
}

func (t *table) index(slot int) {
	id := t.ids[slot]
	for pos := range t.cols {
		idx, cnt := t.indexes[pos], t.counter[pos]
		if idx == nil && cnt == nil {
			continue
		}
		v := t.cols[pos].get(slot)
		if v.k == kNone {
			continue
		}
		// A copy: the value's string points into the column's arena,
		// which a key would keep alive after the arena is rebuilt.
		key := strings.Clone(v.key())
		if idx != nil {
			idx[key] = insertID(idx[key], id)
		}
		if cnt != nil {
			cnt[key]++
		}
	}
}

func (t *table) unindex(slot int) {
	id := t.ids[slot]
	for pos := range t.cols {
		idx, cnt := t.indexes[pos], t.counter[pos]
		if idx == nil && cnt == nil {
			continue
		}
		v := t.cols[pos].get(slot)
		if v.k == kNone {
			continue
		}
		key := v.key()
		if idx != nil {
			if list := removeID(idx[key], id); len(list) == 0 {
				delete(idx, key)
			} else {
				idx[key] = list
			}
		}
		if cnt != nil {
			if cnt[key]--; cnt[key] <= 0 {
				delete(cnt, key)
			}
		}
	}
}

func insertID(list []uint64, id uint64) []uint64 {
	if n := len(list); n == 0 || list[n-1] < id {
		return append(list, id)
	}
	i, found := slices.BinarySearch(list, id)
	if found {
		return list
	}
	return slices.Insert(list, i, id)
}

func removeID(list []uint64, id uint64) []uint64 {
	i, found := slices.BinarySearch(list, id)
	if !found {
		return list
	}
	return slices.Delete(list, i, i+1)
}

// expiresAt returns when a record added now expires, 0 for never.
func (t *table) expiresAt(now int64) int64 {
	if t.exp == nil {
		return 0
	}
	return now + int64(t.ttl)
}

// purge removes the records that have expired by now and reports how many.
func (t *table) purge(now int64) int {
	if t.exp == nil || t.minExp > now {
		return 0
	}
	var expired []uint64
	next := int64(math.MaxInt64)
	for slot, e := range t.exp {
		if t.dead.has(slot) || e == 0 {
			continue
		}
		if e <= now {
			expired = append(expired, t.ids[slot])
		} else if e < next {
			next = e
		}
	}
	for _, id := range expired {
		t.remove(id)
	}
	t.minExp = next
	return len(expired)
}
