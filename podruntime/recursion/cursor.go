package recursion

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"maps"
	"slices"

	"github.com/google/uuid"
)

// Cursor is the position of a recursive answer: for each origin pod (by
// member id), the cursor, in that pod's store, of the last of its records
// returned so far. An origin without an entry starts from its first
// record.
type Cursor map[uuid.UUID]string

// Bounds of a Cursor.
const (
	MaxCursorOrigins   = 1024
	MaxCursorBytes     = 32 << 10
	maxLocalCursorSize = 64
)

// cursorTag starts every encoded Cursor, so that a local cursor given to a
// recursive query is told apart.
const cursorTag = 'R'

// String encodes c: unpadded base64url of the tag and, per origin in
// member id order, the id's 16 bytes, the local cursor's length and the
// local cursor.
func (c Cursor) String() string {
	if len(c) == 0 {
		return ""
	}
	b := []byte{cursorTag}
	for _, id := range slices.SortedFunc(maps.Keys(c), func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }) {
		b = append(b, id[:]...)
		b = binary.AppendUvarint(b, uint64(len(c[id])))
		b = append(b, c[id]...)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseCursor decodes a Cursor; "" is the start. Errors are Refusals with
// ReasonCursor.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	bad := func(why string) error {
		return refuse(ReasonCursor, "after %q is not the end_cursor of a recursive answer (%s); page a recursive query with the "+
			"page_info.end_cursor of its previous page", truncate(s), why)
	}
	if len(s) > MaxCursorBytes {
		return nil, bad("too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 || b[0] != cursorTag {
		return nil, bad("not a recursive cursor")
	}
	b = b[1:]
	if len(b) == 0 {
		return nil, bad("no origins")
	}
	c := Cursor{}
	for len(b) > 0 {
		if len(c) >= MaxCursorOrigins {
			return nil, bad("too many origins")
		}
		if len(b) < 16 {
			return nil, bad("truncated")
		}
		id := uuid.UUID(b[:16])
		b = b[16:]
		n, k := binary.Uvarint(b)
		if k <= 0 || n == 0 || n > maxLocalCursorSize || uint64(len(b)-k) < n {
			return nil, bad("truncated")
		}
		if _, dup := c[id]; dup {
			return nil, bad("an origin twice")
		}
		c[id] = string(b[k : k+int(n)])
		b = b[k+int(n):]
	}
	return c, nil
}
