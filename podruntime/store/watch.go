package store

// ChangeOp says what a Change did.
type ChangeOp int

// The kinds of change.
const (
	ChangeAppend ChangeOp = iota + 1 // a record was added (or an object set for the first time)
	ChangeUpdate                     // a record was changed by Update or Mutate
	ChangeDelete                     // a record was deleted
)

// Change is one committed change to a record, for subscriptions.
type Change struct {
	Class  string
	Op     ChangeOp
	Cursor string
	// Record is the record after the change; nil for a delete.
	Record any
}

// Watch calls fn with every change once it is durable, in commit order,
// until stop is called. fn runs on the store's commit path: it must return
// quickly and must not call the store's write methods. Expiry of cache_only
// records is not reported.
func (s *Store) Watch(fn func(Change)) (stop func()) {
	s.watchMu.Lock()
	id := s.watchSeq
	s.watchSeq++
	s.watchers[id] = fn
	s.nWatch.Add(1)
	s.watchMu.Unlock()
	return func() {
		s.watchMu.Lock()
		defer s.watchMu.Unlock()
		if _, ok := s.watchers[id]; ok {
			delete(s.watchers, id)
			s.nWatch.Add(-1)
		}
	}
}

func (s *Store) notify(ops []op) {
	var changes []Change
	for i := range ops {
		o := &ops[i]
		if o.t == nil || o.kind == opClaim {
			continue
		}
		c := Change{Class: o.t.name, Cursor: encodeCursor(o.id)}
		switch {
		case o.kind == opDelete:
			c.Op = ChangeDelete
		case o.fresh:
			c.Op, c.Cursor, c.Record = ChangeAppend, encodeCursor(o.row.id), o.t.rowRecord(o.row)
		default:
			c.Op, c.Cursor, c.Record = ChangeUpdate, encodeCursor(o.row.id), o.t.rowRecord(o.row)
		}
		changes = append(changes, c)
	}
	s.watchMu.Lock()
	fns := make([]func(Change), 0, len(s.watchers))
	for _, fn := range s.watchers {
		fns = append(fns, fn)
	}
	s.watchMu.Unlock()
	for _, c := range changes {
		for _, fn := range fns {
			fn(c)
		}
	}
}
