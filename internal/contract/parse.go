package contract

import (
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// ReadFile reads a contract file, refusing one larger than MaxSize without
// reading all of it.
func ReadFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > MaxSize {
		return nil, Errors{{Message: fmt.Sprintf("contract is larger than %d bytes (1 MiB); want a smaller contract", MaxSize)}}
	}
	return data, nil
}

// Parse decodes and validates a contract: against the contract's JSON Schema
// (see JSONSchema) and then against the rules a schema cannot express, such
// as references between classes. It returns every problem found, as Errors.
func Parse(data []byte) (*Contract, error) {
	if len(data) > MaxSize {
		return nil, Errors{{Message: fmt.Sprintf("contract is %d bytes; want at most %d (1 MiB)", len(data), MaxSize)}}
	}
	doc, err := decodeJSON(data)
	if err != nil {
		if e, ok := err.(Error); ok {
			return nil, Errors{e}
		}
		return nil, Errors{{Message: err.Error()}}
	}
	errs, err := validateSchema(doc)
	if err != nil {
		return nil, err
	}
	b := &builder{}
	c := b.build(doc)
	errs = append(errs, b.errs...)
	if len(errs) > 0 {
		return nil, errs.sorted()
	}
	c.Warnings = b.warnings.sorted()
	return c, nil
}

// builder turns a decoded contract into the model. The schema has checked the
// shape of the document already, but the builder runs even when it found
// problems (to report the rest at once), so it reads every value defensively
// and reports only what the schema cannot.
type builder struct {
	c        *Contract
	errs     Errors
	warnings Errors
	refs     []pendingRef
}

// pendingRef is an items "$ref" to resolve once every "$defs" class exists.
type pendingRef struct {
	items   *Items
	from    *Class // the class holding the reference
	pointer string
}

func (b *builder) errorf(ptr, format string, args ...any) {
	b.errs = append(b.errs, Error{Pointer: ptr, Message: fmt.Sprintf(format, args...)})
}

func (b *builder) warnf(ptr, format string, args ...any) {
	b.warnings = append(b.warnings, Error{Pointer: ptr, Message: fmt.Sprintf(format, args...)})
}

func (b *builder) build(doc *value) *Contract {
	c := &Contract{
		doc:           doc,
		MaxQueryDepth: DefaultMaxQueryDepth,
		classes:       map[string]*Class{},
		defs:          map[string]*Class{},
	}
	b.c = c
	if n, ok := intOf(doc.get("service_id")); ok && n >= 0 && n <= math.MaxUint32 {
		c.ServiceID = uint32(n)
	}
	if n, ok := intOf(doc.get("version")); ok && n >= 1 && n <= math.MaxInt32 {
		c.Version = int(n)
	}
	if n, ok := intOf(doc.get("max_query_depth")); ok && n >= 1 && n <= 10 {
		c.MaxQueryDepth = int(n)
	}
	c.Name, _ = doc.get("name").str()
	c.Description, _ = doc.get("description").str()
	c.Owner, _ = doc.get("owner").str()
	c.Website, _ = doc.get("website").str()
	c.SupportEmail, _ = doc.get("supportemail").str()
	c.CORSOrigins = stringList(doc.get("cors_origins"))
	c.Signatures = signaturesOf(doc.get("signatures"))

	js := doc.get("jsonschema")
	c.SchemaID, _ = js.get("$id").str()
	if defs := js.get("$defs"); defs != nil && defs.kind == jsonObject {
		for _, m := range defs.members {
			ptr := "/jsonschema/$defs/" + escapeToken(m.key)
			cls := b.class(m.key, m.value, ptr)
			if cls == nil {
				continue
			}
			if cls.Access != nil {
				b.warnf(ptr+"/#accesscontrol", "a \"$defs\" class's \"#accesscontrol\" has no effect: the rights on its records are those of the top-level class that holds them")
			}
			c.Defs = append(c.Defs, cls)
			c.defs[cls.Name] = cls
		}
	}
	if props := js.get("properties"); props != nil && props.kind == jsonObject {
		for _, m := range props.members {
			cls := b.class(m.key, m.value, "/jsonschema/properties/"+escapeToken(m.key))
			if cls == nil {
				continue
			}
			c.Classes = append(c.Classes, cls)
			c.classes[cls.Name] = cls
		}
	}
	b.resolveRefs()
	b.checkCycles()
	b.listenRelations(doc.get("listen_relations"))
	for _, cls := range c.Classes {
		b.compileRights(cls)
	}
	return c
}

// escapeToken escapes a key as an RFC 6901 reference token.
func escapeToken(key string) string { return strings.TrimPrefix(appendPointer("", key), "/") }

// validName reports whether s is a GraphQL-safe name: a letter, then letters,
// digits and '_'.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '_'):
		default:
			return false
		}
	}
	return true
}

func (b *builder) checkClassName(name, ptr string) bool {
	for _, reserved := range []string{"#", "_", "byoda"} {
		if strings.HasPrefix(strings.ToLower(name), reserved) {
			b.errorf(ptr, "class name %q starts with %q, which is reserved; want a name that starts with a letter and not with \"byoda\"", name, reserved)
			return false
		}
	}
	if !validName(name) {
		b.errorf(ptr, "class name %q: want a letter followed by letters, digits or \"_\"", name)
		return false
	}
	return true
}

// class builds a class from its schema at ptr, or returns nil when the schema
// is unusable (the problem has been reported).
func (b *builder) class(name string, v *value, ptr string) *Class {
	nameOK := b.checkClassName(name, ptr)
	if v == nil || v.kind != jsonObject {
		return nil
	}
	cls := &Class{Name: name, pointer: ptr, fields: map[string]*Field{}}
	cls.Description, _ = v.get("description").str()
	cls.ID, _ = v.get("$id").str()
	typ, _ := v.get("type").str()
	switch typ {
	case "object":
		cls.Kind = KindObject
		b.fields(cls, v, ptr)
	case "array":
		cls.Items = b.items(cls, v.get("items"), ptr+"/items")
		if cls.Items == nil {
			return nil
		}
		cls.Kind = KindArrayOfScalars
		if cls.Items.Ref != "" {
			cls.Kind = KindArrayOfObjects
		}
	default:
		return nil
	}
	cls.Access = b.access(v.get("#accesscontrol"), ptr+"/#accesscontrol")
	if p := v.get("#properties"); p != nil {
		props := b.dataProperties(p, ptr+"/#properties", true)
		cls.CacheOnly, cls.CacheTTL = props.cacheOnly, props.cacheTTL
	}
	if !nameOK {
		return nil
	}
	return cls
}

func (b *builder) fields(cls *Class, v *value, ptr string) {
	props := v.get("properties")
	if props == nil || props.kind != jsonObject {
		return
	}
	var primary *Field
	for _, m := range props.members {
		fptr := ptr + "/properties/" + escapeToken(m.key)
		f := b.field(cls, m.key, m.value, fptr)
		if f == nil {
			continue
		}
		if f.PrimaryKey {
			if primary != nil {
				b.errorf(fptr+"/#properties", "%q is the second primary_key of %q after %q; want at most one", f.Name, cls.Name, primary.Name)
			}
			primary = f
		}
		cls.Fields = append(cls.Fields, f)
		cls.fields[f.Name] = f
	}
	req := v.get("required")
	if req == nil || req.kind != jsonArray {
		return
	}
	for i, it := range req.items {
		name, ok := it.str()
		if !ok {
			continue
		}
		rptr := ptr + "/required/" + strconv.Itoa(i)
		if f := cls.fields[name]; f != nil {
			f.Required = true
			continue
		}
		if props.get(name) != nil && isObsolete(props.get(name)) {
			b.warnf(rptr, "%q is obsolete, so not required", name)
			continue
		}
		if props.get(name) == nil {
			b.warnf(rptr, "%q is not a field of %q; ignored", name, cls.Name)
		}
	}
}

func isObsolete(v *value) bool {
	o := v.get("#obsolete")
	return o != nil && o.kind == jsonBool && o.boolean
}

// validFieldName reports whether s can name a field: letters, digits and '_',
// not starting with a digit or with "__" (reserved by GraphQL).
func validFieldName(s string) bool {
	if strings.HasPrefix(s, "__") {
		return false
	}
	return validName(s) || (strings.HasPrefix(s, "_") && validName("x"+s[1:]))
}

func (b *builder) field(cls *Class, name string, v *value, ptr string) *Field {
	if !validFieldName(name) {
		b.errorf(ptr, "field name %q: want letters, digits or \"_\", starting with a letter or a single \"_\"", name)
		return nil
	}
	if v == nil || v.kind != jsonObject {
		return nil
	}
	if isObsolete(v) {
		cls.Obsolete = append(cls.Obsolete, name)
		return nil
	}
	if typ, _ := v.get("type").str(); typ == "object" || v.get("$ref") != nil {
		b.errorf(ptr, "objects nested in objects are not supported; want the fields of %q in %q itself, or an array of objects: {\"type\": \"array\", \"items\": {\"$ref\": \"/schemas/<name>\"}}", name, cls.Name)
		return nil
	}
	f := &Field{Name: name, pointer: ptr}
	f.Description, _ = v.get("description").str()
	typ, _ := v.get("type").str()
	switch Type(typ) {
	case TypeString, TypeInteger, TypeNumber, TypeBoolean, TypeArray:
		f.Type = Type(typ)
	default:
		return nil
	}
	if format, ok := v.get("format").str(); ok {
		if f.Type != TypeString {
			b.errorf(ptr+"/format", "\"format\" applies to strings only; want no \"format\" on a field of type %q", typ)
		}
		f.Format = Format(format)
	}
	if e := v.get("enum"); e != nil {
		if f.Type != TypeString {
			b.errorf(ptr+"/enum", "\"enum\" applies to strings only; want no \"enum\" on a field of type %q", typ)
		}
		f.Enum = stringList(e)
	}
	items := v.get("items")
	switch {
	case f.Type == TypeArray && items == nil:
		b.errorf(ptr, "missing required key \"items\"; an array must say what it holds")
	case f.Type == TypeArray:
		f.Items = b.items(cls, items, ptr+"/items")
	case items != nil:
		b.errorf(ptr+"/items", "\"items\" applies to arrays only; want no \"items\" on a field of type %q", typ)
	}
	f.Access = b.access(v.get("#accesscontrol"), ptr+"/#accesscontrol")
	if p := v.get("#properties"); p != nil {
		props := b.dataProperties(p, ptr+"/#properties", false)
		f.PrimaryKey, f.Index, f.Counter = props.primaryKey, props.index, props.counter
		f.CacheOnly, f.CacheTTL = props.cacheOnly, props.cacheTTL
	}
	return f
}

// items builds what an array holds.
func (b *builder) items(from *Class, v *value, ptr string) *Items {
	if v == nil || v.kind != jsonObject {
		return nil
	}
	if ref, ok := v.get("$ref").str(); ok {
		if v.get("type") != nil {
			return nil // the schema reported it
		}
		name, ok := refName(ref)
		if !ok {
			return nil
		}
		it := &Items{Ref: name}
		b.refs = append(b.refs, pendingRef{items: it, from: from, pointer: ptr + "/$ref"})
		return it
	}
	typ, _ := v.get("type").str()
	it := &Items{Type: Type(typ)}
	switch it.Type {
	case TypeString, TypeInteger, TypeNumber, TypeBoolean:
	default:
		return nil
	}
	if format, ok := v.get("format").str(); ok {
		if it.Type != TypeString {
			b.errorf(ptr+"/format", "\"format\" applies to strings only; want no \"format\" on items of type %q", typ)
		}
		it.Format = Format(format)
	}
	return it
}

// refName returns the class name of a reference such as "/schemas/address".
func refName(ref string) (string, bool) {
	for _, prefix := range []string{"#/schemas/", "/schemas/", "#/$defs/"} {
		if name, ok := strings.CutPrefix(ref, prefix); ok && validName(name) {
			return name, true
		}
	}
	return "", false
}

// resolveRefs points every array of objects at its "$defs" class. A name is
// looked up among the "$defs" keys first and then among their "$id"s, as the
// reference's contracts use both ("video_chapter" has "$id"
// "/schemas/video-chapter").
func (b *builder) resolveRefs() {
	byID := map[string]*Class{}
	for _, d := range b.c.Defs {
		if d.ID != "" {
			byID[d.ID] = d
		}
	}
	for _, r := range b.refs {
		target := b.c.defs[r.items.Ref]
		if target == nil {
			target = byID["/schemas/"+r.items.Ref]
		}
		switch {
		case target == nil:
			b.errorf(r.pointer, "unknown class %q; want the name of a class in \"$defs\"", r.items.Ref)
		case target.Kind != KindObject:
			b.errorf(r.pointer, "%q is an %s; want an object class (arrays hold scalars or objects, not arrays)", target.Name, target.Kind)
		default:
			r.items.Ref = target.Name
			r.items.Class = target
		}
	}
}

// checkCycles refuses "$defs" classes that contain themselves through arrays
// of objects: their records could not be stored or queried.
func (b *builder) checkCycles() {
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[*Class]int{}
	var stack []string
	var visit func(c *Class)
	visit = func(c *Class) {
		state[c] = visiting
		stack = append(stack, c.Name)
		for _, f := range c.Fields {
			if f.Items == nil || f.Items.Class == nil {
				continue
			}
			next := f.Items.Class
			switch state[next] {
			case visiting:
				i := len(stack) - 1
				for i > 0 && stack[i] != next.Name {
					i--
				}
				cycle := append(append([]string{}, stack[i:]...), next.Name)
				b.errorf(f.pointer+"/items/$ref", "reference cycle %s; want \"$defs\" classes that do not contain themselves", strings.Join(cycle, " -> "))
			case unvisited:
				visit(next)
			}
		}
		stack = stack[:len(stack)-1]
		state[c] = done
	}
	for _, d := range b.c.Defs {
		if state[d] == unvisited {
			visit(d)
		}
	}
}

// access builds the rules of an "#accesscontrol" object; nil if it has none.
func (b *builder) access(v *value, ptr string) []Rule {
	if v == nil || v.kind != jsonObject {
		return nil
	}
	rules := []Rule{}
	for _, m := range v.members {
		e, ok := ParseEntity(m.key)
		if !ok {
			continue
		}
		eptr := ptr + "/" + escapeToken(m.key)
		perms := m.value.get("permissions")
		if perms == nil || perms.kind != jsonArray {
			continue
		}
		r := Rule{Entity: e}
		for i, pv := range perms.items {
			if p, ok := b.permission(e, pv, eptr+"/permissions/"+strconv.Itoa(i)); ok {
				r.Permissions = append(r.Permissions, p)
			}
		}
		rules = append(rules, r)
	}
	if len(rules) == 0 {
		// As in the reference, an empty "#accesscontrol" is no rule at all.
		return nil
	}
	return rules
}

func (b *builder) permission(e Entity, v *value, ptr string) (Permission, bool) {
	p := Permission{Match: "exact", CaseSensitive: true}
	if e == EntityNetwork {
		p.Distance = 1
	}
	if name, ok := v.str(); ok {
		p.Action, ok = ParseAction(name)
		return p, ok
	}
	if v.kind != jsonObject {
		return p, false
	}
	name, _ := v.get("permission").str()
	var ok bool
	if p.Action, ok = ParseAction(name); !ok {
		return p, false
	}
	for _, m := range v.members {
		sptr := ptr + "/" + escapeToken(m.key)
		switch m.key {
		case "cache":
			if p.Action != ActionRead {
				b.errorf(sptr, "\"cache\" applies to \"read\" only; want it on a read permission, not %q", name)
			}
			s, _ := m.value.str()
			p.Cache, _ = parseDuration(s)
		case "match", "casesensitive":
			if p.Action != ActionSearch {
				b.errorf(sptr, "%q applies to \"search\" only; want it on a search permission, not %q", m.key, name)
			}
			if m.key == "match" {
				p.Match, _ = m.value.str()
			} else if m.value.kind == jsonBool {
				p.CaseSensitive = m.value.boolean
			}
		case "relation", "distance", "source_signature_required", "anonimized_responses":
			if e != EntityNetwork {
				continue // the schema reported it
			}
			if p.Action == ActionSearch {
				b.errorf(sptr, "a search permission takes no %q; want {\"permission\": \"search\"} only", m.key)
			}
			switch m.key {
			case "relation":
				// A string is one relation: the reference iterated it
				// character by character.
				if s, ok := m.value.str(); ok {
					p.Relations = []string{strings.ToLower(s)}
				} else {
					for _, r := range stringList(m.value) {
						p.Relations = append(p.Relations, strings.ToLower(r))
					}
				}
			case "distance":
				if n, ok := intOf(m.value); ok && n >= 1 && n <= 10 {
					p.Distance = int(n)
					if p.Distance > b.c.MaxQueryDepth {
						b.errorf(sptr, "distance %d exceeds max_query_depth %d, so no query could reach it; want at most %d", n, b.c.MaxQueryDepth, b.c.MaxQueryDepth)
					}
				}
			case "source_signature_required":
				p.SourceSignatureRequired = m.value.kind == jsonBool && m.value.boolean
			case "anonimized_responses":
				p.AnonymizedResponses = m.value.kind == jsonBool && m.value.boolean
			}
		}
	}
	return p, true
}

type dataProps struct {
	primaryKey, index, counter, cacheOnly bool
	cacheTTL                              time.Duration
}

// dataProperties reads a "#properties" list. On a class only cache_only
// means something.
func (b *builder) dataProperties(v *value, ptr string, onClass bool) dataProps {
	var p dataProps
	if v.kind != jsonArray {
		return p
	}
	for i, it := range v.items {
		iptr := ptr + "/" + strconv.Itoa(i)
		var name, ttl string
		switch it.kind {
		case jsonString:
			name, ttl, _ = strings.Cut(it.text, ":")
		case jsonArray:
			if len(it.items) != 2 {
				continue
			}
			name, _ = it.items[0].str()
			ttl, _ = it.items[1].str()
		default:
			continue
		}
		switch name {
		case "primary_key", "index", "counter":
			if onClass {
				b.errorf(iptr, "%q applies to fields; want only \"cache_only\" or \"cache_only:<duration>\" on a class", name)
				continue
			}
			p.primaryKey = p.primaryKey || name == "primary_key"
			p.index = p.index || name == "index"
			p.counter = p.counter || name == "counter"
		case "cache_only":
			p.cacheOnly = true
			if ttl != "" {
				p.cacheTTL, _ = parseDuration(ttl)
			}
		}
	}
	return p
}

// parseDuration parses the contract's durations: a whole number and one of the
// units s, m, h, d (24h) and w (7d).
func parseDuration(s string) (time.Duration, bool) {
	if len(s) < 2 {
		return 0, false
	}
	n, err := strconv.ParseInt(s[:len(s)-1], 10, 32)
	if err != nil || n < 0 {
		return 0, false
	}
	var unit time.Duration
	switch s[len(s)-1] {
	case 's':
		unit = time.Second
	case 'm':
		unit = time.Minute
	case 'h':
		unit = time.Hour
	case 'd':
		unit = 24 * time.Hour
	case 'w':
		unit = 7 * 24 * time.Hour
	default:
		return 0, false
	}
	return time.Duration(n) * unit, true
}

// listenRelations reads "listen_relations" and checks that its classes exist
// and that the destinations can hold the records of the class listened to:
// arrays of records with every field of the source's records, of the same
// type. A destination may have more fields, such as origin_member_id and
// origin_cursor, which the pod fills in.
func (b *builder) listenRelations(v *value) {
	if v == nil || v.kind != jsonArray {
		return
	}
	for i, it := range v.items {
		ptr := "/listen_relations/" + strconv.Itoa(i)
		if it.kind != jsonObject {
			continue
		}
		lr := ListenRelation{Relations: stringList(it.get("relations"))}
		lr.ClassName, _ = it.get("class_name").str()
		lr.DestinationClass, _ = it.get("destination_class").str()
		lr.FeedClass, _ = it.get("feed_class").str()
		src := b.c.classes[lr.ClassName]
		if src == nil && lr.ClassName != "" {
			b.errorf(ptr+"/class_name", "unknown class %q; want a top-level class", lr.ClassName)
		}
		for _, key := range []string{"destination_class", "feed_class"} {
			name, _ := it.get(key).str()
			if name == "" {
				continue
			}
			dst := b.c.classes[name]
			switch {
			case dst == nil:
				b.errorf(ptr+"/"+key, "unknown class %q; want a top-level class", name)
			case src != nil:
				if why := holds(dst, src); why != "" {
					b.errorf(ptr+"/"+key, "%q cannot hold the records of %q: %s", name, lr.ClassName, why)
				}
			}
		}
		b.c.ListenRelations = append(b.c.ListenRelations, lr)
	}
}

// holds says why dst cannot hold the records of src, or "" when it can.
func holds(dst, src *Class) string {
	if src.Kind != KindArrayOfObjects || dst.Kind != KindArrayOfObjects {
		return "both must be arrays of records"
	}
	from, to := src.RecordClass(), dst.RecordClass()
	if from == to || from == nil || to == nil {
		return "" // an unresolved $ref is reported where it is
	}
	for _, f := range from.Fields {
		g := to.Field(f.Name)
		switch {
		case g == nil:
			return fmt.Sprintf("it has no field %q; want every field of %q", f.Name, from.Name)
		case g.Type != f.Type || g.Format != f.Format || (g.Items == nil) != (f.Items == nil) ||
			(g.Items != nil && *g.Items != *f.Items):
			return fmt.Sprintf("its field %q differs in type from that of %q", f.Name, from.Name)
		}
	}
	return ""
}

// compileRights precomputes the rule tables that Authorize reads.
func (b *builder) compileRights(cls *Class) {
	cls.rights = newRuleTable(cls.Access)
	rc := cls.RecordClass()
	if rc == nil {
		return
	}
	for _, f := range rc.Fields {
		if f.Access == nil {
			continue
		}
		if cls.fieldRights == nil {
			cls.fieldRights = map[string]*ruleTable{}
		}
		cls.fieldRights[f.Name] = cls.rights.override(f.Access)
	}
}

// intOf returns the value of a JSON number that is a whole number in int64
// range ("4711", "4711.0", "4.711e3").
func intOf(v *value) (int64, bool) {
	if v == nil || v.kind != jsonNumber {
		return 0, false
	}
	if n, err := strconv.ParseInt(v.text, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(v.text, 64)
	if err != nil || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

// stringList returns the strings of a JSON array of strings.
func stringList(v *value) []string {
	if v == nil || v.kind != jsonArray {
		return nil
	}
	out := make([]string, 0, len(v.items))
	for _, it := range v.items {
		if s, ok := it.str(); ok {
			out = append(out, s)
		}
	}
	return out
}

func signaturesOf(v *value) Signatures {
	return Signatures{Service: signatureOf(v.get("service")), Network: signatureOf(v.get("network"))}
}

func signatureOf(v *value) *SignatureRecord {
	if v == nil || v.kind != jsonObject {
		return nil
	}
	r := &SignatureRecord{CertificateChain: stringList(v.get("certificate_chain"))}
	r.Signature, _ = v.get("signature").str()
	r.HashAlgorithm, _ = v.get("hash_algorithm").str()
	r.Timestamp, _ = v.get("timestamp").str()
	r.Certificate, _ = v.get("certificate").str()
	return r
}
