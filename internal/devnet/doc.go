// Package devnet runs a whole byoda network on loopback with embedded
// defaults: the network's CAs in a local PKI directory, an authoritative
// DNS server for the network's zone, the demo service (addressbook-demo,
// service 4711) and four data pods, Suzie, Mike, Jane and Alice, each on
// its own 127.0.0.x address with the network's ports, their data in local
// directories.
//
// The first run creates everything under the state directory and seeds the
// demo: each person's name and addresses, their links (Suzie and Mike are
// family, Mike and Jane are family, Suzie and Alice are friends, and Suzie
// follows Alice) and a post of Alice's. Later runs reuse the state and the
// data. Run writes devnet.json (State) into the directory, so that scripts
// and tests can drive the network, and prints for each pod its owner URL,
// login and ready-to-paste commands.
package devnet
