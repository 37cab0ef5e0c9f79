package graphql

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/requestid"
)

// The codes in the extensions.code of the errors the executor reports,
// besides gqlgen's GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED (which
// also covers a query deeper than Options.MaxDepth),
// COMPLEXITY_LIMIT_EXCEEDED and PERSISTED_QUERY_NOT_FOUND.
const (
	// CodeForbidden: the contract does not let the caller do this, or read
	// this field. The error's path says where; nothing of the value is
	// returned.
	CodeForbidden = "FORBIDDEN"
	// CodeBadUserInput: an argument is wrong, such as a record the
	// contract rejects (extensions.pointer is the JSON pointer into the
	// record) or first above MaxFirst.
	CodeBadUserInput = "BAD_USER_INPUT"
	// CodeNotImplemented: the request is valid but the pod cannot serve it
	// yet, such as a recursive query.
	CodeNotImplemented = "NOT_IMPLEMENTED"
	// CodeUnavailable: the pod's storage is unavailable for now.
	CodeUnavailable = "UNAVAILABLE"
	// CodeInternal: something went wrong inside the pod; its log has the
	// details, the client gets none. When the request has an id
	// (internal/requestid), extensions.request_id holds it, and the log
	// lines about the failure carry it too.
	CodeInternal = "INTERNAL"
	// CodeResponseTooLarge: the answer would be larger than
	// Options.MaxResponseBytes. Data is null; ask for less.
	CodeResponseTooLarge = "RESPONSE_TOO_LARGE"
	// CodeCancelled: the request's context ended (the client left, or the
	// server is shutting down) before the request was answered.
	CodeCancelled = "CANCELLED"
)

// newError returns an error at path with an extensions.code.
func newError(path ast.Path, code, format string, args ...any) *gqlerror.Error {
	return &gqlerror.Error{
		Message:    fmt.Sprintf(format, args...),
		Path:       path,
		Extensions: map[string]any{"code": code},
	}
}

// errorf returns an error at the current path.
func (x *execution) errorf(code, format string, args ...any) *gqlerror.Error {
	return newError(x.pathCopy(), code, format, args...)
}

// forbidden is the error of an action the contract does not grant the
// caller, on a class or on one field of its records.
func (x *execution) forbidden(action contract.Action, cls *contract.Class, field string) *gqlerror.Error {
	what := fmt.Sprintf("%q", cls.Name)
	if field != "" {
		what = fmt.Sprintf("field %q of %q", field, cls.Name)
	}
	return x.errorf(CodeForbidden, "forbidden: the contract does not let %s %s %s", x.caller.Entity, action, what)
}

// invalidRecord turns the errors contract validation found in a record (or
// patch, or item) into BAD_USER_INPUT errors, one per problem, each with the
// JSON pointer into the record.
func (x *execution) invalidRecord(field string, err error) []*gqlerror.Error {
	var errs contract.Errors
	if !errors.As(err, &errs) {
		return []*gqlerror.Error{x.errorf(CodeBadUserInput, "%s: %v", field, err)}
	}
	out := make([]*gqlerror.Error, 0, len(errs))
	for _, e := range errs {
		ge := x.errorf(CodeBadUserInput, "%s: %s", field, e.Error())
		ge.Extensions["pointer"] = e.Pointer
		out = append(out, ge)
	}
	return out
}

// dataError turns an error of Data into what the client may see: the
// message of ErrInvalid errors, a notice for ErrUnavailable, and for any
// other error only that there was one (it is logged).
func (x *execution) dataError(what string, err error) *gqlerror.Error {
	switch {
	case errors.Is(err, ErrInvalid):
		return x.errorf(CodeBadUserInput, "%s: %v", what, err)
	case errors.Is(err, ErrUnavailable):
		return x.errorf(CodeUnavailable, "%s: storage is unavailable for now; retry later", what)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return x.errorf(CodeUnavailable, "%s: %v", what, err)
	}
	x.es.log.ErrorContext(x.ctx, "Data request failed", "request", what, "path", pathString(x.pathCopy()), "err", err)
	return internalError(x.ctx, x.pathCopy(), what)
}

// internalError is the INTERNAL error of a failure whose details only the
// pod's log has (logged with ctx, so under the request's id): what failed,
// if given, and the request id to look for in the log.
func internalError(ctx context.Context, path ast.Path, what string) *gqlerror.Error {
	msg := "internal error; the pod's log has the details"
	if what != "" {
		msg = what + ": " + msg
	}
	e := newError(path, CodeInternal, "%s", msg)
	if id := requestid.From(ctx); id != "" {
		e.Message += " under request id " + id
		e.Extensions["request_id"] = id
	}
	return e
}

func pathString(p ast.Path) string {
	var sb strings.Builder
	for i, e := range p {
		switch e := e.(type) {
		case ast.PathName:
			if i > 0 {
				sb.WriteByte('.')
			}
			sb.WriteString(string(e))
		case ast.PathIndex:
			fmt.Fprintf(&sb, "[%d]", int(e))
		}
	}
	return sb.String()
}
