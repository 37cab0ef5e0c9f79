// Package contract parses, validates, authorizes against and signs BYODA
// service contracts.
//
// A contract is the JSON document in which a service says what data each
// member's pod stores for it and who may do what with each piece. The format
// is the reference implementation's, so its published contracts load
// unchanged: an envelope (service_id, version, name, description, owner,
// website, supportemail, cors_origins, max_query_depth, listen_relations,
// signatures) around a JSON Schema draft 2020-12 document, "jsonschema", whose
// "properties" are the top-level data classes and whose "$defs" are the
// classes that arrays refer to.
//
// # The contract schema
//
// The reference has no schema for the contract file itself; this package
// publishes one, contract.schema.json (embedded, returned by JSONSchema, with
// $id SchemaURL), for contract authors and their editors. Parse validates
// every contract against it and then checks what a schema cannot express:
// class names, objects nested in objects, references between classes and
// their cycles, specifiers that do not fit their action, distances beyond
// max_query_depth, listen_relations. It reports every problem at once, each
// as an Error with an RFC 6901 pointer into the contract and a message that
// says what is expected, for example
//
//	/jsonschema/properties/person/#accesscontrol/network/permissions/0/relation: want a string or a list of strings, got 5
//
// Problems that the reference's own contracts have and that do no harm
// (a required name that is not a field, "#accesscontrol" on a "$defs" class)
// are Contract.Warnings instead.
//
// # The model
//
// A Class is an object with Fields, an array of scalars, or an array of
// objects of a "$defs" class (Items.Class). References take the forms
// "/schemas/<name>", "#/schemas/<name>" and "#/$defs/<name>" and resolve to
// the "$defs" key <name>, or else to the class whose "$id" is
// "/schemas/<name>". Fields marked "#obsolete" are dropped (Class.Obsolete
// names them). "#properties" sets PrimaryKey, Index, Counter and
// CacheOnly[:TTL], the last also on classes; durations are a whole number and
// a unit s, m, h, d or w.
//
// # Access rules
//
// "#accesscontrol" maps entities (member, service, any_member, network,
// anonymous) to permissions: an action (read, create, update, delete,
// append, search, persist, mutate, subscribe), or an object with the action
// in "permission" and specifiers: "cache" for read; "match" and
// "casesensitive" for search; "relation" (one string, or a list),
// "distance", "source_signature_required" and "anonimized_responses" for
// network. Parse compiles the rules into per-class and per-field tables, and
// Authorize decides a request with a few lookups and no allocation. Its
// semantics, where the reference is silent or wrong:
//
//   - Rights are OR-ed over every entity the caller counts as. Everyone has
//     the rights of anonymous. The pod's owner (member) and a network peer
//     are members of the service and have the rights of any_member too; the
//     service does not.
//   - A class without "#accesscontrol" may be read by its owner and nobody
//     else may do anything with it.
//   - A field's "#accesscontrol" replaces its class's rules on that field for
//     each entity it names, and only those: it can narrow (the service may
//     search an email address but not read it; "network": {"permissions":
//     []} hides a field from the network) or grant field-level actions such
//     as search. Field rules apply to the fields of a class's records (the
//     object, or the items of an array of objects).
//   - A string "relation" is one relation (the reference iterated over its
//     characters); relations compare without regard to case; a network rule
//     without "relation" matches any link.
//   - "distance" is the number of hops between the queried pod and the
//     caller, 1 (the default) being a direct link. A network caller further
//     away than max_query_depth (default 1) matches no rule, and a distance
//     beyond max_query_depth is refused when parsing.
//   - max_query_depth bounds the hops of a recursive query; the pod that
//     receives one checks it, with the query's age and signature
//     (podruntime/recursion).
//
// Records are checked against their class before they are stored with
// Class.ValidateRecord (and Class.ValidatePatch for partial updates).
//
// # Upgrades
//
// CheckUpgrade decides whether a pod may take up a newer version of a
// contract without a restart: the newer version must only add (new
// classes, new optional fields, new listen relations and CORS origins),
// and change nothing the older one defines but metadata and descriptions.
//
// # Signatures
//
// A contract is signed twice, with ECDSA P-256 over the SHA-256 digest of its
// canonical bytes: first by the service (data.service-data-<sid>.<net>) with
// "signatures" empty, then by the network (network.network-data.<net>) with
// only the service's signature in "signatures". Each record in "signatures"
// holds, as the reference's do, "signature" (base64 ASN.1), "hash_algorithm"
// ("SHA256"), "timestamp" (RFC 3339) and "certificate" (the signer's common
// name), and also "certificate_chain" (base64 DER, signer first, root
// excluded), so that Verify needs nothing but the network's root
// certificates. The reference's signatures, made over differently formatted
// bytes and without chains, do not verify here.
//
// The canonical bytes of a contract are its JSON with no whitespace between
// tokens, object members sorted by the bytes of their UTF-8 keys, strings
// escaped as RFC 8785 does (only '"', '\' and control characters, the latter
// as \b \t \n \f \r or \u00xx), and numbers exactly as written in the
// document: "1.0" stays "1.0", so the bytes a signer saw are the bytes a
// verifier computes. Parse refuses what would make this ambiguous: invalid
// UTF-8, duplicate keys and data after the document.
package contract
