package store

import (
	"encoding/binary"
	"errors"
	"math"
)

// encoder appends the compact binary encoding the store uses inside its
// encrypted objects: unsigned and zigzag varints, length-prefixed bytes.
type encoder struct {
	buf []byte
}

func (e *encoder) byte(b byte)        { e.buf = append(e.buf, b) }
func (e *encoder) uvarint(x uint64)   { e.buf = binary.AppendUvarint(e.buf, x) }
func (e *encoder) varint(x int64)     { e.buf = binary.AppendVarint(e.buf, x) }
func (e *encoder) fixed64(x uint64)   { e.buf = binary.LittleEndian.AppendUint64(e.buf, x) }
func (e *encoder) raw(b []byte)       { e.buf = append(e.buf, b...) }
func (e *encoder) float64(f float64)  { e.fixed64(math.Float64bits(f)) }
func (e *encoder) str(s string)       { e.uvarint(uint64(len(s))); e.buf = append(e.buf, s...) }
func (e *encoder) len() int           { return len(e.buf) }
func (e *encoder) putUint32(x uint32) { e.buf = binary.BigEndian.AppendUint32(e.buf, x) }

// errMalformed is the decoder's only error: the bytes do not follow the
// format. Objects are authenticated before they are decoded, so this means a
// bug or an object from an incompatible version, never tampering.
var errMalformed = errors.New("malformed encoding")

// decoder reads what encoder wrote. The first problem sticks: later reads
// return zero values and err stays set, so callers check once at the end of
// a unit.
type decoder struct {
	buf []byte
	off int
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errMalformed
	}
	d.off = len(d.buf)
}

func (d *decoder) done() bool { return d.off >= len(d.buf) }

func (d *decoder) byte() byte {
	if d.off >= len(d.buf) {
		d.fail()
		return 0
	}
	b := d.buf[d.off]
	d.off++
	return b
}

func (d *decoder) uvarint() uint64 {
	x, n := binary.Uvarint(d.buf[d.off:])
	if n <= 0 {
		d.fail()
		return 0
	}
	d.off += n
	return x
}

func (d *decoder) varint() int64 {
	x, n := binary.Varint(d.buf[d.off:])
	if n <= 0 {
		d.fail()
		return 0
	}
	d.off += n
	return x
}

func (d *decoder) fixed64() uint64 {
	if len(d.buf)-d.off < 8 {
		d.fail()
		return 0
	}
	x := binary.LittleEndian.Uint64(d.buf[d.off:])
	d.off += 8
	return x
}

func (d *decoder) float64() float64 { return math.Float64frombits(d.fixed64()) }

func (d *decoder) uint32() uint32 {
	if len(d.buf)-d.off < 4 {
		d.fail()
		return 0
	}
	x := binary.BigEndian.Uint32(d.buf[d.off:])
	d.off += 4
	return x
}

// count reads a length or element count and checks that at least min bytes
// per element remain, so a corrupt count cannot make the caller allocate
// without bound.
func (d *decoder) count(minBytes int) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if minBytes < 1 {
		minBytes = 1
	}
	if n > uint64(len(d.buf)-d.off)/uint64(minBytes) {
		d.fail()
		return 0
	}
	return int(n)
}

// bytes returns a length-prefixed slice that aliases the buffer.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.buf)-d.off) {
		d.fail()
		return nil
	}
	b := d.buf[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return b
}

func (d *decoder) str() string { return string(d.bytes()) }

func (d *decoder) fixed(n int) []byte {
	if len(d.buf)-d.off < n {
		d.fail()
		return nil
	}
	b := d.buf[d.off : d.off+n]
	d.off += n
	return b
}
