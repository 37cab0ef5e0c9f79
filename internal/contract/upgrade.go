package contract

import (
	"fmt"
	"slices"
	"strconv"
)

// CheckUpgrade reports whether a pod may take up contract next in place of
// prev, the version it serves, without a restart and without changing what
// it stores: next must only add to prev. It returns nil when it does, and
// otherwise Errors, one per change or removal, each with a pointer into
// next (or into prev, for what next removed) and a message that says what
// changed.
//
// "Only adds" means, exactly:
//
//   - next is of the same service and has a higher version;
//   - every top-level class and every "$defs" class of prev is in next
//     (not removed, not "#obsolete"), with the same kind, the same items
//     (scalar type and format, or the same "$defs" class), the same
//     "#accesscontrol" and the same cache_only and TTL;
//   - every field of prev's classes is in next with the same type, format,
//     enum, items, "#accesscontrol", "#properties" (primary_key, index,
//     counter, cache_only and TTL) and the same "required";
//   - a field next adds to an existing class is neither required nor a
//     primary_key: records stored under prev do not have it;
//   - max_query_depth is the same, every listen relation of prev is in next
//     unchanged, and every CORS origin of prev is still allowed.
//
// Anything else next has is an addition: new classes (top-level or
// "$defs"), new optional fields with their own rules, new listen relations
// and CORS origins. Metadata may change freely: name, description, owner,
// website, supportemail, the data schema's $id, and the descriptions of
// classes and fields.
func CheckUpgrade(prev, next *Contract) error {
	var errs Errors
	add := func(ptr, format string, args ...any) {
		errs = append(errs, Error{Pointer: ptr, Message: fmt.Sprintf(format, args...)})
	}
	if next.ServiceID != prev.ServiceID {
		add("/service_id", "the contract is of service %d, not of service %d", next.ServiceID, prev.ServiceID)
		return errs
	}
	if next.Version <= prev.Version {
		add("/version", "version %d is not higher than version %d", next.Version, prev.Version)
	}
	if next.MaxQueryDepth != prev.MaxQueryDepth {
		add("/max_query_depth", "changed from %d to %d", prev.MaxQueryDepth, next.MaxQueryDepth)
	}
	for _, o := range prev.CORSOrigins {
		if !slices.Contains(next.CORSOrigins, o) {
			add("/cors_origins", "origin %q was removed", o)
		}
	}
	for i, lr := range prev.ListenRelations {
		if !slices.ContainsFunc(next.ListenRelations, func(n ListenRelation) bool { return sameListenRelation(lr, n) }) {
			add("/listen_relations/"+strconv.Itoa(i), "the listen relation of class %q into %q was removed or changed", lr.ClassName, lr.DestinationClass)
		}
	}
	for _, pc := range prev.Defs {
		nc := next.Def(pc.Name)
		if nc == nil {
			add(pc.pointer, "\"$defs\" class %q was removed", pc.Name)
			continue
		}
		checkClass(pc, nc, false, add)
	}
	for _, pc := range prev.Classes {
		nc := next.Class(pc.Name)
		if nc == nil {
			add(pc.pointer, "class %q was removed", pc.Name)
			continue
		}
		checkClass(pc, nc, true, add)
	}
	if len(errs) == 0 {
		return nil
	}
	return errs.sorted()
}

// checkClass compares a class of both versions. The fields of an array of
// objects are those of its "$defs" class, which the caller compares on its
// own.
func checkClass(pc, nc *Class, topLevel bool, add func(ptr, format string, args ...any)) {
	if nc.Kind != pc.Kind {
		add(nc.pointer, "class %q changed from an %s to an %s", pc.Name, pc.Kind, nc.Kind)
		return
	}
	if pc.Items != nil && !sameItems(pc.Items, nc.Items) {
		if pc.Items.Ref != nc.Items.Ref {
			add(nc.pointer+"/items", "class %q changed from an array of %q to an array of %q", pc.Name, pc.Items.Ref, nc.Items.Ref)
		} else {
			add(nc.pointer+"/items", "the items of class %q changed from %s to %s", pc.Name, itemsText(pc.Items), itemsText(nc.Items))
		}
	}
	if pc.CacheOnly != nc.CacheOnly || pc.CacheTTL != nc.CacheTTL {
		add(nc.pointer+"/#properties", "cache_only of class %q changed", pc.Name)
	}
	// A "$defs" class's own rules have no effect (Parse warns about them).
	if topLevel && !sameRules(pc.Access, nc.Access) {
		add(nc.pointer+"/#accesscontrol", "the access rules of class %q changed", pc.Name)
	}
	if pc.Kind != KindObject && topLevel {
		return
	}
	for _, pf := range pc.Fields {
		nf := nc.fields[pf.Name]
		if nf == nil {
			add(pf.pointer, "field %q of class %q was removed", pf.Name, pc.Name)
			continue
		}
		checkField(pc.Name, pf, nf, add)
	}
	for _, nf := range nc.Fields {
		if pc.fields[nf.Name] != nil {
			continue
		}
		if nf.Required {
			add(nf.pointer, "new field %q of class %q is required; records stored under the earlier version do not have it: make it optional", nf.Name, pc.Name)
		}
		if nf.PrimaryKey {
			add(nf.pointer+"/#properties", "new field %q of class %q is a primary_key; records stored under the earlier version do not have it", nf.Name, pc.Name)
		}
	}
}

func checkField(class string, pf, nf *Field, add func(ptr, format string, args ...any)) {
	changed := func(what string) {
		add(nf.pointer, "the %s of field %q of class %q changed", what, pf.Name, class)
	}
	switch {
	case pf.Type != nf.Type:
		add(nf.pointer+"/type", "the type of field %q of class %q changed from %s to %s", pf.Name, class, pf.Type, nf.Type)
		return
	case pf.Format != nf.Format:
		changed("format")
	case !slices.Equal(pf.Enum, nf.Enum):
		changed("enum")
	case !sameItems(pf.Items, nf.Items):
		changed("items")
	}
	if pf.Required != nf.Required {
		changed("\"required\"")
	}
	if pf.PrimaryKey != nf.PrimaryKey || pf.Index != nf.Index || pf.Counter != nf.Counter ||
		pf.CacheOnly != nf.CacheOnly || pf.CacheTTL != nf.CacheTTL {
		changed("#properties")
	}
	if !sameRules(pf.Access, nf.Access) {
		changed("access rules")
	}
}

// itemsText describes what an array holds, for messages.
func itemsText(it *Items) string {
	if it.Ref != "" {
		return strconv.Quote(it.Ref)
	}
	if it.Format != "" {
		return string(it.Type) + " (" + string(it.Format) + ")"
	}
	return string(it.Type)
}

// sameItems reports whether two arrays hold the same: scalars of one type
// and format, or objects of the "$defs" class of one name.
func sameItems(a, b *Items) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Type == b.Type && a.Format == b.Format && a.Ref == b.Ref
}

func sameListenRelation(a, b ListenRelation) bool {
	return a.ClassName == b.ClassName && a.DestinationClass == b.DestinationClass && a.FeedClass == b.FeedClass &&
		slices.Equal(a.Relations, b.Relations)
}

// sameRules reports whether two "#accesscontrol" lists grant the same:
// per entity, the same permissions, in any order.
func sameRules(a, b []Rule) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	for _, ra := range a {
		i := slices.IndexFunc(b, func(rb Rule) bool { return rb.Entity == ra.Entity })
		if i < 0 || !samePermissions(ra.Permissions, b[i].Permissions) {
			return false
		}
	}
	return true
}

func samePermissions(a, b []Permission) bool {
	if len(a) != len(b) {
		return false
	}
	used := make([]bool, len(b))
	for _, pa := range a {
		found := false
		for j, pb := range b {
			if !used[j] && samePermission(pa, pb) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func samePermission(a, b Permission) bool {
	return a.Action == b.Action && slices.Equal(a.Relations, b.Relations) && a.Distance == b.Distance &&
		a.Cache == b.Cache && a.SourceSignatureRequired == b.SourceSignatureRequired &&
		a.AnonymizedResponses == b.AnonymizedResponses && a.Match == b.Match && a.CaseSensitive == b.CaseSensitive
}
