package graphql

import (
	"context"

	"github.com/byoda-go/byoda/internal/contract"
)

type callerKey struct{}

// WithCaller returns a context that carries who is calling, as the server
// established it from the request's credentials. The executor authorizes
// every field against it.
func WithCaller(ctx context.Context, caller contract.Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, caller)
}

// CallerFrom returns the caller WithCaller put in ctx, or an anonymous
// caller when there is none, so that a request nobody authenticated gets
// only what the contract gives to anonymous.
func CallerFrom(ctx context.Context) contract.Caller {
	if c, ok := ctx.Value(callerKey{}).(contract.Caller); ok && c.Entity != 0 {
		return c
	}
	return contract.Caller{Entity: contract.EntityAnonymous}
}
