// Package graphql serves a service's data over GraphQL with a schema built
// at runtime from the service's contract: no code is generated per
// contract.
//
// SchemaFor turns a contract into a gqlparser schema (the names are those
// of the reference implementation's GraphQL, DESIGN.md section 5, and are
// listed on SchemaFor). NewHandler serves that schema with gqlgen's handler
// over one generic graphql.ExecutableSchema, which walks each operation's
// selections (aliases, fragments, variables, @skip and @include,
// __typename, introspection) and answers them from Data, writing the JSON
// response directly in the order of the query.
//
// # Access control
//
// The caller of a request is the one WithCaller put in its context
// (anonymous without one). Every root field asks contract.Authorize for its
// class and action: read for queries, append, update (or mutate) and
// delete for mutations, subscribe for subscriptions. Every field of every
// record returned is checked for read, and every field a mutation sets for
// its action. A denied root field is null with an error whose
// extensions.code is FORBIDDEN and whose path is the field's; a denied
// field inside an allowed record is null with the same error at its own
// path (such as person.email, or
// addresses_connection.edges.3.node.email). Filtering on a field counts as
// reading it, so that a filter cannot reveal what the caller may not read.
//
// # Writes
//
// Appends, mutations and updates are checked against the contract
// (Class.ValidateRecord, Class.ValidatePatch) before Data sees them; each
// problem is a BAD_USER_INPUT error at the mutation's path whose
// extensions.pointer is the JSON pointer into the record. Writes return an
// Int: 1 for mutate_C and append_C, the number of items changed or removed
// for update_C and delete_from_C.
//
// # Limits
//
// Pages hold at most MaxFirst items. Queries may nest Options.MaxDepth
// deep and cost Options.MaxComplexity (a connection costs its page size
// times the cost of an item); the parser reads Options.MaxTokens and the
// handler Options.MaxBodyBytes. Recursive queries (depth > 0,
// remote_member_id) answer NOT_IMPLEMENTED until a later release serves
// them. Malformed input gets a 4xx or a GraphQL error with a code, never a
// 500; a panic is an INTERNAL error without details, logged with its stack.
//
// # Subscriptions
//
// C_updates and C_counter run over a websocket (graphql-transport-ws, or
// the older graphql-ws) on Data.Watch. C_updates sends each append, update
// and delete that matches its filter; C_counter sends the number of
// matching items at once and whenever it changes. Options.WebsocketInit
// authenticates a socket from its connection_init payload.
//
// # Storage
//
// Data is the small interface the executor needs from storage, in this
// package's own types (Record, Filter, Query, Page, Change), so that the
// store does not depend on GraphQL; Filter.Match defines the semantics of
// filters.
package graphql
