// Package contracts holds the project's sample contracts, embedded so that
// byoda devnet runs the demo with no files around it.
package contracts

import _ "embed"

// AddressbookDemo is the contract of the demo service, addressbook-demo
// (service 4711): people, their addresses, the people they know, and
// posts that followers receive.
//
//go:embed addressbook-demo.json
var AddressbookDemo []byte
