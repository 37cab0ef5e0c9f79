package graphql

import (
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"time"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/byoda-go/byoda/internal/contract"
)

// maxPattern is the longest regex or glob pattern a filter may hold.
const maxPattern = 1024

// mutate merges the arguments into the record of an object class. The
// contract's "update" permission allows it, as does "mutate".
func (x *execution) mutate(r *root, args map[string]any) []*gqlerror.Error {
	cls := r.class
	action := writeAction(x, cls)
	if action == 0 {
		return []*gqlerror.Error{x.forbidden(contract.ActionUpdate, cls, "")}
	}
	patch := Record(args)
	if len(patch) == 0 {
		return []*gqlerror.Error{x.errorf(CodeBadUserInput, "mutate_%s: give at least one field to set", cls.Name)}
	}
	if errs := x.fieldsAllowed(action, cls, patch); len(errs) > 0 {
		return errs
	}
	if err := cls.ValidatePatch(patch); err != nil {
		return x.invalidRecord("mutate_"+cls.Name, err)
	}
	// A first mutation must set the required fields; later ones cannot
	// clear them (ValidatePatch refuses null for them), so checking the
	// merged record here holds even if another mutation runs meanwhile.
	cur, err := x.es.data.Get(x.ctx, cls.Name)
	if err != nil {
		return []*gqlerror.Error{x.dataError("read "+cls.Name, err)}
	}
	merged := maps.Clone(cur)
	if merged == nil {
		merged = Record{}
	}
	for k, v := range patch {
		if v == nil {
			delete(merged, k)
		} else {
			merged[k] = v
		}
	}
	if err := cls.ValidateRecord(merged); err != nil {
		return x.invalidRecord("mutate_"+cls.Name, err)
	}
	if err := x.es.data.Mutate(x.ctx, cls.Name, patch); err != nil {
		return []*gqlerror.Error{x.dataError("mutate "+cls.Name, err)}
	}
	x.out = append(x.out, '1')
	return nil
}

// writeAction returns the action that lets the caller change an object
// class: the contracts in use grant "update" for it, the action list has
// "mutate" too. Zero when neither is granted.
func writeAction(x *execution, cls *contract.Class) contract.Action {
	for _, a := range []contract.Action{contract.ActionUpdate, contract.ActionMutate} {
		if x.allowed(a, cls, "") {
			return a
		}
	}
	return 0
}

// fieldsAllowed checks action on each field that rec sets, in the order of
// the class.
func (x *execution) fieldsAllowed(action contract.Action, cls *contract.Class, rec Record) []*gqlerror.Error {
	var errs []*gqlerror.Error
	for _, f := range cls.RecordClass().Fields {
		if _, ok := rec[f.Name]; ok && !x.allowed(action, cls, f.Name) {
			e := x.forbidden(action, cls, f.Name)
			e.Extensions["argument"] = f.Name
			errs = append(errs, e)
		}
	}
	return errs
}

// appendItem appends the arguments as one item.
func (x *execution) appendItem(r *root, args map[string]any) []*gqlerror.Error {
	cls := r.class
	item := cls.RecordClass()
	remote, gerr := x.appendRemote(args, item)
	if gerr != nil {
		return []*gqlerror.Error{gerr}
	}
	// An append to another pod is that pod's to authorize; this pod only
	// checks that its owner sends it.
	if remote == "" && !x.allowed(contract.ActionAppend, cls, "") {
		return []*gqlerror.Error{x.forbidden(contract.ActionAppend, cls, "")}
	}
	var node any
	if item == nil {
		node = args[argValue]
	} else {
		rec := Record{}
		for _, f := range item.Fields {
			if v, ok := args[f.Name]; ok && v != nil {
				rec[f.Name] = v
			}
		}
		if remote == "" {
			if errs := x.fieldsAllowed(contract.ActionAppend, cls, rec); len(errs) > 0 {
				return errs
			}
		}
		node = rec
	}
	if err := cls.ValidateRecord(node); err != nil {
		return x.invalidRecord("append_"+cls.Name, err)
	}
	if remote != "" {
		if err := x.es.network.Append(x.ctx, remote, cls.Name, node); err != nil {
			return []*gqlerror.Error{x.networkError(err)}
		}
		x.out = append(x.out, '1')
		return nil
	}
	if err := x.es.data.Append(x.ctx, cls.Name, node); err != nil {
		return []*gqlerror.Error{x.dataError("append to "+cls.Name, err)}
	}
	x.out = append(x.out, '1')
	return nil
}

// appendRemote returns the member an append goes to (remote_member_id),
// or "" for this pod. item is the record class, whose fields may take the
// names of the recursion arguments.
func (x *execution) appendRemote(args map[string]any, item *contract.Class) (string, *gqlerror.Error) {
	if item == nil || item.Field(argDepth) == nil {
		if n, _ := args[argDepth].(int64); n != 0 {
			return "", x.errorf(CodeBadUserInput, "argument depth of an append is %d; an append goes to one pod: want 0", n)
		}
	}
	if item != nil && item.Field(argRemoteMemberID) != nil {
		return "", nil
	}
	remote, _ := args[argRemoteMemberID].(string)
	switch {
	case remote == "":
	case x.es.network == nil:
		return "", x.errorf(CodeNotImplemented, "this pod does not talk to other pods: leave remote_member_id out")
	case x.caller.Entity != contract.EntityMember:
		return "", x.errorf(CodeForbidden, "only the pod's owner may send an append to another pod (remote_member_id); log in as the owner")
	}
	return remote, nil
}

// update merges the arguments other than the filter into every matching
// item.
func (x *execution) update(r *root, args map[string]any) []*gqlerror.Error {
	cls := r.class
	if !x.allowed(contract.ActionUpdate, cls, "") {
		return []*gqlerror.Error{x.forbidden(contract.ActionUpdate, cls, "")}
	}
	filter, errs := x.filter(r, args[argFilter])
	if len(errs) > 0 {
		return errs
	}
	patch := Record{}
	for k, v := range args {
		if k != argFilter {
			patch[k] = v
		}
	}
	if len(patch) == 0 {
		return []*gqlerror.Error{x.errorf(CodeBadUserInput, "update_%s: give at least one field to set", cls.Name)}
	}
	if errs := x.fieldsAllowed(contract.ActionUpdate, cls, patch); len(errs) > 0 {
		return errs
	}
	if err := cls.ValidatePatch(patch); err != nil {
		return x.invalidRecord("update_"+cls.Name, err)
	}
	n, err := x.es.data.Update(x.ctx, cls.Name, filter, patch)
	if err != nil {
		return []*gqlerror.Error{x.dataError("update "+cls.Name, err)}
	}
	x.out = strconv.AppendInt(x.out, int64(n), 10)
	return nil
}

// delete removes every matching item. An empty filter matches them all.
func (x *execution) delete(r *root, args map[string]any) []*gqlerror.Error {
	cls := r.class
	if !x.allowed(contract.ActionDelete, cls, "") {
		return []*gqlerror.Error{x.forbidden(contract.ActionDelete, cls, "")}
	}
	filter, errs := x.filter(r, args[argFilter])
	if len(errs) > 0 {
		return errs
	}
	n, err := x.es.data.Delete(x.ctx, cls.Name, filter)
	if err != nil {
		return []*gqlerror.Error{x.dataError("delete from "+cls.Name, err)}
	}
	x.out = strconv.AppendInt(x.out, int64(n), 10)
	return nil
}

// filterOps are the operators of the filter inputs, in the order
// conditions are built.
var filterOps = []Op{OpEq, OpAt, OpNe, OpNat, OpGt, OpAfter, OpLt, OpBefore, OpGe, OpAtAfter, OpLe, OpAtBefore,
	OpIn, OpNotIn, OpRegex, OpGlob}

// filter converts a filter argument (already coerced) into a Filter.
// Filtering on a field is reading it: a field the caller may not read
// cannot be filtered on either, or the filter would tell its value.
func (x *execution) filter(r *root, arg any) (Filter, []*gqlerror.Error) {
	obj, _ := arg.(map[string]any)
	if len(obj) == 0 {
		return nil, nil
	}
	item := r.class.RecordClass()
	if item == nil {
		f, err := x.conditions(argFilter, "", r.scalar, r.format, obj)
		if err != nil {
			return nil, []*gqlerror.Error{err}
		}
		return f, nil
	}
	var (
		filter Filter
		errs   []*gqlerror.Error
	)
	for _, fd := range item.Fields {
		ops, ok := obj[fd.Name].(map[string]any)
		if !ok {
			continue
		}
		if !x.allowed(contract.ActionRead, r.class, fd.Name) {
			e := x.forbidden(contract.ActionRead, r.class, fd.Name)
			e.Message += "; so it cannot be filtered on"
			e.Extensions["argument"] = argFilter + "." + fd.Name
			errs = append(errs, e)
			continue
		}
		conds, err := x.conditions(argFilter+"."+fd.Name, fd.Name, fd.Type, fd.Format, ops)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		filter = append(filter, conds...)
	}
	return filter, errs
}

// conditions converts the operators given for one field. Patterns are
// checked here for their length, and regular expressions for their syntax,
// so that the error names the argument; Data matches them.
func (x *execution) conditions(where, field string, t contract.Type, format contract.Format, ops map[string]any) (Filter, *gqlerror.Error) {
	isTime := scalarType(t, format) == scalarDateTime
	var out Filter
	for _, op := range filterOps {
		v, ok := ops[string(op)]
		if !ok || v == nil {
			continue
		}
		c := Condition{Field: field, Op: op, Value: v}
		switch {
		case op == OpIn || op == OpNotIn:
			list, _ := v.([]any)
			strs := make([]string, 0, len(list))
			for _, s := range list {
				if s, ok := s.(string); ok {
					strs = append(strs, s)
				}
			}
			c.Value = strs
		case op == OpRegex || op == OpGlob:
			s, _ := v.(string)
			if len(s) > maxPattern {
				return nil, x.argError(where+"."+string(op), fmt.Sprintf("the pattern is %d bytes long; want at most %d", len(s), maxPattern))
			}
			if op == OpRegex {
				if _, err := regexp.Compile(s); err != nil {
					return nil, x.argError(where+"."+string(op), fmt.Sprintf("want a regular expression (RE2 syntax): %v", err))
				}
			}
		case isTime:
			s, _ := v.(string)
			ts, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return nil, x.argError(where+"."+string(op), "want a date-time (RFC 3339)")
			}
			c.Value = ts
		}
		out = append(out, c)
	}
	return out, nil
}
