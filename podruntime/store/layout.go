package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// DefaultPrefix returns the key prefix of the store of one membership when
// Options.Prefix is empty: a hash of the service and member ids, so the
// object store's listing does not show whose data it holds.
func DefaultPrefix(serviceID uint32, memberID uuid.UUID) string {
	h := sha256.New()
	h.Write([]byte("byoda store prefix v1\x00"))
	h.Write(binary.BigEndian.AppendUint32(nil, serviceID))
	h.Write(memberID[:])
	return "stores/" + hex.EncodeToString(h.Sum(nil)[:16])
}

// layout names the objects of one store. Every name is a fixed letter and
// numbers: nothing about classes, fields or records.
//
//	<prefix>/k                          wrapped data key
//	<prefix>/w/<seq:20>                 write-ahead log segment
//	<prefix>/s/<seq:20>                 snapshot manifest, covering segments <= seq
//	<prefix>/c/<seq:20>-<nonce:16>-<i:6> snapshot chunk
//
// No name is a prefix-directory of another, as objstore requires.
type layout struct {
	prefix string // ends in "/"
}

const (
	segmentDir  = "w/"
	manifestDir = "s/"
	chunkDir    = "c/"
)

func (l layout) key() string { return l.prefix + "k" }

func (l layout) segment(seq uint64) string {
	return l.prefix + segmentDir + fmt.Sprintf("%020d", seq)
}

func (l layout) manifest(seq uint64) string {
	return l.prefix + manifestDir + fmt.Sprintf("%020d", seq)
}

func (l layout) chunk(seq, nonce uint64, i int) string {
	return l.prefix + chunkDir + fmt.Sprintf("%020d-%016x-%06d", seq, nonce, i)
}

// parseSeq reads the sequence number of a segment or manifest key listed
// under dir.
func (l layout) parseSeq(dir, key string) (uint64, bool) {
	name, ok := strings.CutPrefix(key, l.prefix+dir)
	if !ok || len(name) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(name, 10, 64)
	return n, err == nil
}

// parseChunk reads the snapshot sequence number and nonce of a chunk key.
func (l layout) parseChunk(key string) (seq, nonce uint64, ok bool) {
	name, found := strings.CutPrefix(key, l.prefix+chunkDir)
	parts := strings.Split(name, "-")
	if !found || len(parts) != 3 || len(parts[0]) != 20 || len(parts[1]) != 16 {
		return 0, 0, false
	}
	seq, err1 := strconv.ParseUint(parts[0], 10, 64)
	nonce, err2 := strconv.ParseUint(parts[1], 16, 64)
	return seq, nonce, err1 == nil && err2 == nil
}
