package graphql

import (
	"context"
	"errors"

	"github.com/byoda-go/byoda/podruntime/field"
)

// Data is the storage a pod serves GraphQL from: the records of one
// membership, per top-level class of the contract. The executor has already
// authorized the caller and validated every record and patch against the
// contract before it calls Data, so an implementation only stores and
// queries. Each method gets the request's context.
//
// Errors wrapping ErrInvalid are the caller's mistake (a bad cursor, say)
// and reach the client with their message; errors wrapping ErrUnavailable
// say the storage is down; any other error is reported to the client as an
// internal error without its text, and logged.
type Data interface {
	// Get returns the record of an object class, or nil (and no error) when
	// nothing has been stored yet.
	Get(ctx context.Context, class string) (Record, error)
	// Mutate merges patch into the record of an object class, creating it
	// if there is none: a key with a nil value clears that field, keys not
	// in patch keep their values.
	Mutate(ctx context.Context, class string, patch Record) error
	// Append adds items to an array class: Records for an array of
	// objects, scalars (string, int64, float64, bool) for an array of
	// scalars.
	Append(ctx context.Context, class string, items ...any) error
	// Query returns a page of the items of an array class that match the
	// filter, in the class's order (oldest first), starting after the
	// cursor q.After. With q.First zero it returns no edges, only the
	// TotalCount of matching items.
	Query(ctx context.Context, class string, q Query) (Page, error)
	// Update merges patch into every record of an array of objects that
	// matches filter, as Mutate does, and returns how many it changed.
	Update(ctx context.Context, class string, filter Filter, patch Record) (int, error)
	// Delete removes every item of an array class that matches filter and
	// returns how many it removed.
	Delete(ctx context.Context, class string, filter Filter) (int, error)
	// Watch reports the changes to the items of an array class that
	// match filter before or after the change, from now on until ctx is
	// done, and then closes the channel. It evaluates filter exactly as
	// Query does, on the item as stored: an append or update of an item
	// Query would return has Change.Matched set; a delete of an item that
	// matched just before it is reported with that item, WasMatched set.
	// A slow reader may miss changes rather than hold up writers.
	Watch(ctx context.Context, class string, filter Filter) (<-chan Change, error)
}

// Errors a Data implementation wraps to tell the client what went wrong.
var (
	// ErrInvalid marks a request the client got wrong, such as a cursor
	// that does not belong to the class. The client sees the message.
	ErrInvalid = errors.New("invalid request")
	// ErrUnavailable marks storage that cannot be reached for now; the
	// client may retry.
	ErrUnavailable = errors.New("data unavailable")
)

// Record is one object: a record of an object class or an item of an array
// of objects. Values are string (also for date-time and uuid fields),
// int64, float64, bool, []any for arrays and Record (or map[string]any) for
// the objects in arrays; numbers decoded from JSON (float64 or
// json.Number) are accepted too.
type Record = map[string]any

// Query asks Data.Query for one page of an array class.
type Query struct {
	// Filter selects the items; empty selects all.
	Filter Filter
	// First is how many items to return, at most MaxFirst; zero asks only
	// for Page.TotalCount.
	First int
	// After is the cursor of the item to start after; empty starts at the
	// first item.
	After string
	// Fields are the fields of the records the client selected, a hint for
	// storage that can skip the others; nil means all.
	Fields []string
	// SkipCount says the client did not ask for total_count, so storage may
	// stop at the first item past the page instead of counting every match;
	// Page.TotalCount is then unspecified.
	SkipCount bool
}

// Page is one page of a Query.
type Page struct {
	Edges    []Edge
	PageInfo PageInfo
	// TotalCount is the number of items that match the filter, on every
	// page.
	TotalCount int
	// Release, when set, is called once the executor has written the
	// page: storage may then reuse the memory of its edges and nodes.
	Release func()
	// Extensions, from a Network, go into the response's extensions.
	Extensions map[string]any
}

// Edge is one item of a Page with its cursor.
type Edge struct {
	// Cursor identifies the item for Query.After; it is opaque to clients.
	Cursor string
	// Node is the item: a Record or an Object, or a scalar for an array of
	// scalars.
	Node any
	// Origin is the member id of the pod that holds the item; empty for
	// this pod's own.
	Origin string
}

// Object is an item storage hands out without building a Record for it:
// the executor asks only for the fields the query selects, and a scalar
// costs no allocation. Pages of many records should use it.
type Object interface {
	// Field returns the value of the named field, of Kind ValueNone when
	// the item has none.
	Field(name string) Value
}

// IndexedObject is an Object that hands out the values of the fields the
// query asked for all at once, in the order of Query.Fields of the query
// that returned it: the executor reads them by place, without a lookup or a
// call per field.
type IndexedObject interface {
	Object
	// Values returns the values of Query.Fields, in that order. The
	// executor neither keeps nor changes them.
	Values() []Value
}

// Value is a field of an Object: the type the pod's store hands out, so
// that a value reaches the response without a conversion.
type Value = field.Value

// ValueKind says which field of a Value holds it.
type ValueKind = field.Kind

// The kinds of a Value.
const (
	ValueNone   = field.None   // absent
	ValueString = field.String // Str: a string, uuid or date-time field
	ValueInt    = field.Int    // Int
	ValueFloat  = field.Float  // Float
	ValueBool   = field.Bool   // Int, 1 for true
	ValueOther  = field.Other  // Other, as a Record holds it: an array
)

// mapObject reads a Record as an Object.
type mapObject map[string]any

func (m mapObject) Field(name string) Value {
	v := m[name]
	if v == nil {
		return Value{}
	}
	return Value{Kind: ValueOther, Other: v}
}

// PageInfo says where a Page ends.
type PageInfo struct {
	// EndCursor is the cursor of the last edge, for the next Query.After;
	// empty when the page has no edges.
	EndCursor   string
	HasNextPage bool
}

// Change is one change to an array class that Data.Watch reports.
type Change struct {
	Action ChangeAction
	// Node is the item appended, the record as it is after an update, or
	// the item as it was before a delete.
	Node any
	// Cursor is the item's cursor, as a page's edge has it.
	Cursor string
	// WasMatched says the item matched the watch's filter before the
	// change (never for an append), Matched that it matches after it
	// (never for a delete). An update that moves an item into the filter
	// has only Matched set, one that moves it out only WasMatched.
	WasMatched, Matched bool
}

// ChangeAction is what happened to an item.
type ChangeAction string

// The changes Data.Watch reports; their names are the values of the
// ChangeAction enum of the schema.
const (
	ChangeAppend ChangeAction = "append"
	ChangeUpdate ChangeAction = "update"
	ChangeDelete ChangeAction = "delete"
)
