// Package devnet runs a whole byoda network on loopback with embedded
// defaults: the network's CAs in a local PKI directory; the network
// directory (on SQLite, in the state directory) with its authoritative DNS
// server for the network's zone; the demo service (addressbook-demo,
// service 4711) and its directory; and four data pods, Suzie, Mike, Jane
// and Alice, each on its own 127.0.0.x address with the network's ports,
// their data in local directories. The directories sign with the CAs of
// the PKI directory, as on a real network (package directories runs them
// in process).
//
// The pods are pods outside a cluster: each starts with a PKI directory of
// its own that holds only the network's root, registers its account with
// the network directory, joins the demo service through its directory (it
// makes its keys, the directories sign them) and publishes its names in
// the network's DNS, on the first run; later runs find the keys and only
// publish their addresses again. They take up newer versions of the demo
// contract that only add, without a restart.
//
// The first run creates everything under the state directory and seeds the
// demo: each person's name and addresses, their links (Suzie and Mike are
// family, Mike and Jane are family, Suzie and Alice are friends, and Suzie
// follows Alice) and a post of Alice's. Later runs reuse the state and the
// data. Run writes devnet.json (State) into the directory, so that scripts
// and tests can drive the network, and prints for each pod its owner URL,
// login and ready-to-paste commands.
package devnet
