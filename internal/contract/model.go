package contract

import (
	"time"
)

// MaxSize is the largest contract Parse accepts, in bytes.
const MaxSize = 1 << 20

// DefaultMaxQueryDepth is the max_query_depth of a contract that sets none.
const DefaultMaxQueryDepth = 1

// Contract is a parsed and validated service contract. It is immutable: share
// it between goroutines freely.
type Contract struct {
	ServiceID     uint32
	Version       int
	Name          string
	Description   string
	Owner         string
	Website       string
	SupportEmail  string
	CORSOrigins   []string
	MaxQueryDepth int // hops a recursive query may travel; DefaultMaxQueryDepth if unset
	// SchemaID is the $id of the contract's data schema.
	SchemaID        string
	ListenRelations []ListenRelation
	// Classes are the top-level data classes, in document order.
	Classes []*Class
	// Defs are the "$defs" classes that arrays refer to, in document order.
	Defs []*Class
	// Signatures are the signature records the contract carries.
	Signatures Signatures
	// Warnings are problems that do not stop the contract from loading, such
	// as a required field that the class does not define. The reference's
	// own contracts have some.
	Warnings Errors

	classes map[string]*Class
	defs    map[string]*Class
	doc     *value
}

// Class returns the top-level class name, or nil.
func (c *Contract) Class(name string) *Class { return c.classes[name] }

// Def returns the "$defs" class name, or nil.
func (c *Contract) Def(name string) *Class { return c.defs[name] }

// ListenRelation asks the pods of members with one of Relations to the
// publisher to copy new records of ClassName into DestinationClass (and
// FeedClass, when set).
type ListenRelation struct {
	ClassName        string
	Relations        []string
	DestinationClass string
	FeedClass        string
}

// Kind is the shape of a class.
type Kind int

// The shapes a class can have.
const (
	// KindObject is a single object with fields.
	KindObject Kind = iota + 1
	// KindArrayOfScalars is a list of strings, numbers or booleans.
	KindArrayOfScalars
	// KindArrayOfObjects is a list of objects of a "$defs" class.
	KindArrayOfObjects
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindObject:
		return "object"
	case KindArrayOfScalars:
		return "array of scalars"
	case KindArrayOfObjects:
		return "array of objects"
	}
	return "unknown"
}

// Class is a data class: a top-level class of the contract, whose data a pod
// stores and serves, or a "$defs" class that arrays hold.
type Class struct {
	Name        string
	Description string
	// ID is the class's "$id" ("/schemas/<name>"), if it has one.
	ID   string
	Kind Kind
	// Fields are the fields of an object class, in document order, without
	// obsolete ones. For an array of objects, see Items.Class.Fields.
	Fields []*Field
	// Items says what an array class holds; nil for an object.
	Items *Items
	// Access is the class's "#accesscontrol"; nil when it has none.
	Access []Rule
	// CacheOnly marks a class whose records a pod keeps only in its cache,
	// for CacheTTL when that is not zero.
	CacheOnly bool
	CacheTTL  time.Duration
	// Obsolete lists the fields marked "#obsolete": they are not part of
	// the model and records must not carry them.
	Obsolete []string

	pointer string
	fields  map[string]*Field
	// rights are the precomputed access rules of a top-level class, and
	// fieldRights those of the fields of its records.
	rights      *ruleTable
	fieldRights map[string]*ruleTable
}

// Field returns the field name of an object class, or of the objects of an
// array of objects, or nil.
func (c *Class) Field(name string) *Field {
	if c.Kind == KindArrayOfObjects && c.Items.Class != nil {
		return c.Items.Class.fields[name]
	}
	return c.fields[name]
}

// RecordClass returns the class whose fields a record of c has: c itself for
// an object, the item class for an array of objects, nil for an array of
// scalars.
func (c *Class) RecordClass() *Class {
	switch c.Kind {
	case KindObject:
		return c
	case KindArrayOfObjects:
		return c.Items.Class
	}
	return nil
}

// PrimaryKey returns the field marked primary_key of the class's records, or
// nil.
func (c *Class) PrimaryKey() *Field {
	rc := c.RecordClass()
	if rc == nil {
		return nil
	}
	for _, f := range rc.Fields {
		if f.PrimaryKey {
			return f
		}
	}
	return nil
}

// Type is a JSON Schema type of a field or array item.
type Type string

// The types a field or item can have.
const (
	TypeString  Type = "string"
	TypeInteger Type = "integer"
	TypeNumber  Type = "number"
	TypeBoolean Type = "boolean"
	TypeArray   Type = "array"
)

// Format refines a string type, as JSON Schema's "format".
type Format string

// The formats a contract may use. FormatURL is the reference's spelling of
// FormatURI and is checked the same way.
const (
	FormatNone         Format = ""
	FormatDateTime     Format = "date-time"
	FormatDate         Format = "date"
	FormatTime         Format = "time"
	FormatUUID         Format = "uuid"
	FormatURI          Format = "uri"
	FormatURIReference Format = "uri-reference"
	FormatIRI          Format = "iri"
	FormatIRIReference Format = "iri-reference"
	FormatURL          Format = "url"
	FormatEmail        Format = "email"
	FormatIDNEmail     Format = "idn-email"
	FormatHostname     Format = "hostname"
	FormatIDNHostname  Format = "idn-hostname"
	FormatIPv4         Format = "ipv4"
	FormatIPv6         Format = "ipv6"
)

// Field is one field of an object class.
type Field struct {
	Name        string
	Description string
	Type        Type
	Format      Format   // only for strings
	Enum        []string // allowed values of a string, if restricted
	// Items says what an array field holds; nil for scalars.
	Items    *Items
	Required bool
	// PrimaryKey, Index and Counter come from "#properties": the field
	// identifies a record, is indexed, and has a counter kept per value.
	PrimaryKey bool
	Index      bool
	Counter    bool
	// CacheOnly and CacheTTL come from "cache_only[:<duration>]".
	CacheOnly bool
	CacheTTL  time.Duration
	// Access is the field's own "#accesscontrol"; nil when it has none.
	Access []Rule

	pointer string
}

// Items is what an array holds: scalars of Type (and Format), or objects of
// the "$defs" class Ref.
type Items struct {
	Type   Type   // for scalars
	Format Format // for strings
	// Ref is the name of the "$defs" class of an array of objects, and Class
	// that class.
	Ref   string
	Class *Class
}

// Signatures are the signature records of a contract (see Sign).
type Signatures struct {
	Service *SignatureRecord
	Network *SignatureRecord
}

// SignatureRecord is one signature of a contract as stored in its
// "signatures" object.
type SignatureRecord struct {
	// Signature is the base64 (standard, padded) ASN.1 ECDSA signature of
	// the SHA-256 digest of the signed bytes.
	Signature string `json:"signature"`
	// HashAlgorithm is always "SHA256".
	HashAlgorithm string `json:"hash_algorithm"`
	// Timestamp is when the signature was made, RFC 3339 in UTC.
	Timestamp string `json:"timestamp"`
	// Certificate is the common name of the signing certificate, as the
	// reference records it.
	Certificate string `json:"certificate"`
	// CertificateChain holds the signer's certificate and its issuers up to
	// but excluding the root, base64 DER, signer first, so that a verifier
	// needs only the network's root.
	CertificateChain []string `json:"certificate_chain,omitempty"`
}
