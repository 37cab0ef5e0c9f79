// Package graphql serves a service's data over GraphQL with a schema built
// at runtime from the service's contract: no code is generated per
// contract.
//
// SchemaFor turns a contract into a gqlparser schema (the names come from
// the reference implementation's GraphQL, and are listed on SchemaFor).
// NewHandler serves that schema with gqlgen's handler over one generic
// graphql.ExecutableSchema, which walks each operation's selections
// (aliases, fragments, variables, @skip and @include, __typename,
// introspection) and answers them from Data, writing the JSON response
// directly in the order of the query.
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
// Everything an anonymous client can send is bounded in memory, CPU and
// time, and every refusal says which limit and how to ask for less:
//
//   - Request bodies: Options.MaxBodyBytes (413); the parser reads at most
//     Options.MaxTokens.
//   - Depth: Options.MaxDepth, not counting introspection, whose lists
//     gqlparser's rule bounds (this package's copy of it remembers each
//     fragment, so fragments that spread each other twice, level after
//     level, cost a walk over the text, not over 2^levels fields).
//   - Cost: Options.MaxComplexity. A field costs one, a connection its page
//     size times the cost of an item, plus one, and each field counts as
//     often as the query names it (aliases, spreads); introspection counts
//     as much as its answer holds (a list costs the sum of its items), so
//     that many aliases of __schema are refused like any other large
//     query. The count remembers each fragment's cost, stops as soon as it
//     passes the limit, and gives up when the request's context ends; the
//     cost of an operation without variables is counted once per parsed
//     query. Over the limit: COMPLEXITY_LIMIT_EXCEEDED, before anything
//     runs.
//   - Answers: Options.MaxResponseBytes (data and errors). The executor
//     writes JSON as it goes and checks the size after every value; an
//     answer that passes the limit stops there, and the client gets data
//     null and one RESPONSE_TOO_LARGE error instead.
//   - Pages: at most MaxFirst items.
//   - Websockets: a message may be at most Options.MaxBodyBytes; one that
//     is larger closes the socket with 1009 as soon as its frame header
//     says so, before its payload is read (gqlgen's transport sets no read
//     limit, so the handler sits below it, on the hijacked connection, and
//     follows the frames). A socket with no subscription running for
//     Options.WebsocketIdleTimeout is closed (1000); pings do not count.
//     Options.WebsocketInitTimeout bounds the wait for connection_init.
//
// Options.OnLimit is told of each refusal (and each idle socket closed),
// for metrics. Malformed input gets
// a 4xx or a GraphQL error with a code, never a 500. A panic, or an error
// of Data that is not the client's doing, is an INTERNAL error without
// details; the log line that has them is written with the request's
// context, and when the request has an id (internal/requestid) the error
// names it in its message and in extensions.request_id.
//
// # Other pods
//
// A connection query with depth > 0 or remote_member_id, or one whose
// request extensions hold a query another pod forwarded, is handed to
// Options.Network (the pod's part in the graph between pods): Admit checks
// it and says who the caller is for it (the immediate caller at its
// distance from the origin), the executor checks read access on the class
// and the filter for that caller, and Query answers it, with each edge's
// Origin and extensions (such as the pods that did not answer) that go
// into the response. An append with remote_member_id goes to that pod
// through Network.Append, from the pod's owner only. Without a Network
// these answer NOT_IMPLEMENTED.
//
// # Subscriptions
//
// C_updates and C_counter run over a websocket (graphql-transport-ws, or
// the older graphql-ws) on Data.Watch, which evaluates the subscription's
// filter in storage with the same engine as queries: a subscription sees
// exactly the items a query with its filter returns. C_updates sends each
// append and update of an item that matches the filter after the change,
// and each delete of an item that matched it before (with that item); an
// update that moves an item out of the filter is not an event. C_counter
// sends the number of matching items at once, and again whenever a change
// moves an item into or out of the filter (appends, deletes and updates)
// and the count changed. Options.WebsocketInit authenticates a socket from
// its connection_init payload.
//
// # Storage
//
// Data is the small interface the executor needs from storage, in this
// package's own types (Record, Filter, Query, Page, Change), so that the
// store does not depend on GraphQL. The executor checks filters against
// the schema; Data evaluates them (the pod's store, with one filter engine
// for queries, updates, deletes and watches).
package graphql
